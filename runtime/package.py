"""Model packages: a folder with ONNX graphs and ``stylert.json``, the one thing the
runtime consumes. This module reads and validates them (no torch); ``stylert.export``
writes them.

Layout::

    PKG/stylert.json          what is inside (see FORMAT below and README)
    PKG/GRAPH.onnx            fp32 graph (one per graph name)
    PKG/GRAPH.fp16.onnx       optional reduced-precision variants
    PKG/GRAPH.int8.onnx
    PKG/model.pt              the weights as a stylert checkpoint (for the optional torch backend)
    PKG/parity_io.npz         the parity inputs and PyTorch outputs (verify, self-check)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

from . import families, onnxfile
from .errors import PackageError
from .folders import describe

# Version 2: AdaIN graphs take and give uint8 NHWC BGR frames (io.frame) and adain_full is
# optional. Version 1 packages (float NCHW RGB graphs) still load: the pipeline converts.
FORMAT, FORMAT_VERSION, READS = "stylert-package", 2, (1, 2)
MANIFEST = "stylert.json"
PRECISIONS = ("fp32", "fp16", "int8")
# Extra files tuned for one runner. int8-cpu: the int8 graph in ONNX Runtime's operator
# format (QLinearConv, quantized Resize/Pad), ~1.2x faster on its CPU provider than the
# portable QDQ graph, which TensorRT and the CUDA provider need.
CPU_VARIANTS = {"int8": "int8-cpu"}


def base_precision(variant: str) -> str:
    """The precision a file variant runs: int8-cpu -> int8, fp32 -> fp32."""
    return next((p for p, v in CPU_VARIANTS.items() if v == variant), variant)


# The bundled default packages (exported from export/defaults by `make packages`).
BUNDLED = Path(__file__).resolve().parent / "packages"


def sha256(path: os.PathLike | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checksum(meta: Dict[str, Any]) -> str:
    """sha256 of the manifest's content (all but its own "checksum" field), so an edited
    manifest is caught, not trusted."""
    body = {k: v for k, v in meta.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def graph_file(graph: str, precision: str) -> str:
    return f"{graph}.onnx" if precision == "fp32" else f"{graph}.{precision}.onnx"


@dataclass
class Package:
    path: Path
    meta: Dict[str, Any]

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def graphs(self) -> Dict[str, Dict[str, Any]]:
        return self.meta["graphs"]

    def precisions(self, graph: str) -> List[str]:
        return [p for p in PRECISIONS if p in self.graphs[graph]["files"]]

    def variant(self, graph: str, precision: str, cpu: bool = False) -> str:
        """The file that runs ``precision``: the graph's own variant (fp32 where it has none,
        e.g. adain_full in int8) and, for ONNX Runtime's CPU provider, the CPU-tuned one."""
        files = self.graphs[graph]["files"]
        chosen = precision if precision in files else "fp32"
        return CPU_VARIANTS[chosen] if cpu and CPU_VARIANTS.get(chosen) in files else chosen

    def onnx(self, graph: str, precision: str = "fp32") -> Path:
        files = self.graphs[graph]["files"]
        if precision not in files:
            raise PackageError(f"{self.path} has no {precision} {graph} graph (it has "
                               f"{', '.join(files)}): re-export with --precision {precision}")
        return inside(self.path, files[precision]["file"])

    def file(self, entry: Dict[str, Any]) -> Path:
        """A file the manifest names (``{"file", "sha256"}``), inside the package and unmodified."""
        f = inside(self.path, entry.get("file", ""))
        if not f.is_file():
            raise PackageError(f"{self.path}: {f.name} is missing: re-export the package")
        _check_file(f, entry, True)
        return f

    def reference_io(self) -> Dict[str, Any]:
        """The export gate's inputs and PyTorch outputs (parity_io.npz): ``{"GRAPH/in/NAME":
        array, "GRAPH/out/NAME": array}``, what verify and the backends' self-check run."""
        entry = self.meta.get("saved_io")
        if not isinstance(entry, dict):
            raise PackageError(f"{self.path} has no saved reference I/O (parity_io.npz; packages from before "
                               f"stylert 0.1 lack it): re-export the package")
        path = self.file(entry)
        arrays = read_arrays(path)
        for name, g in self.graphs.items():
            keys = [f"{name}/in/{t['name']}" for t in g["inputs"]] + [f"{name}/out/{g['outputs'][0]['name']}"]
            missing = [k for k in keys if k not in arrays]
            if missing:
                raise PackageError(f"{path} lacks {missing[0]}, which {MANIFEST} names: re-export the package")
        return arrays

    def torch_weights(self) -> Path:
        """model.pt, checked against the manifest (read only by the torch backend). The
        bundled packages have none: their source is the bundled checkpoint of stylert.export."""
        entry = self.meta.get("torch")
        if entry and inside(self.path, entry["file"]).is_file():
            return self.file(entry)
        source = self.meta.get("source", {}).get("checkpoint", {})
        bundled = Path(__file__).resolve().parent / "export" / "defaults" / str(source.get("file"))
        if bundled.is_file() and sha256(bundled) == source.get("sha256"):
            return bundled
        raise PackageError(f"{self.path} has no PyTorch weights (model.pt): re-export it for the torch backend")


# The most one array of a reference file may hold (the bundled ones hold under 1 MB each).
MAX_ARRAY_BYTES = 1 << 30


def read_arrays(path: Path, error=PackageError, fix: str = "re-export the package") -> Dict[str, Any]:
    """The arrays of an .npz file, each header checked before anything is allocated: no
    objects (numpy would unpickle them: code), no claim of more data than the file holds or
    than MAX_ARRAY_BYTES; a damaged file is one ``error`` naming it and the ``fix``."""
    import zipfile
    import zlib

    import numpy as np

    fmt = np.lib.format
    try:
        with zipfile.ZipFile(path) as z:  # the headers first
            for info in z.infolist():
                with z.open(info) as f:
                    version = fmt.read_magic(f)
                    header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                    shape, _, dtype = header(f)
                size = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if dtype.hasobject:
                    raise ValueError(f"{info.filename} holds Python objects")
                if size > min(info.file_size, MAX_ARRAY_BYTES):
                    raise ValueError(f"{info.filename} claims {size} bytes, more than it holds or may hold")
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError) as e:
        raise error(f"cannot read {path} ({str(e)[:100]}): {fix}") from None


def default_package(kind: str) -> Path:
    path = BUNDLED / kind
    if not (path / MANIFEST).is_file():
        raise PackageError(f"no bundled {kind} package in this install ({path}): pass a package "
                           f"made with `stylert export {kind}`")
    return path


def load(path: os.PathLike | str, *, check_hashes: bool = True) -> Package:
    """Reads and validates a package; any problem is a PackageError naming it."""
    path = Path(path)
    manifest = path / MANIFEST
    if not path.is_dir():
        what = describe(path)  # a file, a device, a link that loops: said, never 'not found'
        raise PackageError(f"{path} is {what}, not a model package folder (make one with `stylert export`)" if what
                           else f"model package not found: {path} (make one with `stylert export`)")
    if not manifest.is_file():
        raise PackageError(f"{path} is not a stylert model package (no {MANIFEST}): "
                           f"make one with `stylert export`")
    try:
        meta = json.loads(manifest.read_text())
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # RecursionError: nested too deep
        raise PackageError(f"{manifest} is not valid JSON ({str(e)[:80]}): re-export the package") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise PackageError(f"{manifest} is not a {FORMAT} manifest: re-export the package")
    if meta.get("format_version") not in READS:
        raise PackageError(f"{manifest} has format version {meta.get('format_version')}; this "
                           f"stylert reads {', '.join(map(str, READS))}: re-export with this version")
    if meta.get("checksum") != checksum(meta):
        raise PackageError(f"{manifest} was edited after export (its checksum does not match): "
                           f"re-export the package instead of editing it")
    kind = meta.get("kind")
    if not isinstance(kind, str) or kind not in families.FAMILIES:  # looked up now: families.register
        raise PackageError(f"{manifest}: unknown model kind {kind!r} (expected one of {', '.join(families.KINDS)})")
    graphs = meta.get("graphs")
    required, optional = families.get(kind).graphs, families.get(kind).optional
    if not isinstance(graphs, dict) or not set(required) <= set(graphs) <= {*required, *optional}:
        extra = f" (and optionally {', '.join(optional)})" if optional else ""
        raise PackageError(f"{manifest}: a {kind} package has the graphs {', '.join(required)}{extra}, "
                           f"this one lists {', '.join(graphs or []) or 'none'}: re-export it")
    _check_io(manifest, meta.get("io"), families.get(kind).io)
    for name, g in graphs.items():
        files = g.get("files") if isinstance(g, dict) else None
        if not isinstance(files, dict) or "fp32" not in files:
            raise PackageError(f"{manifest}: graph {name} has no fp32 file listed: re-export the package")
        _check_tensors(manifest, name, g)
        for precision, entry in files.items():
            f = inside(path, entry.get("file", "") if isinstance(entry, dict) else "")
            if not f.is_file():
                raise PackageError(f"{path}: {precision} graph {name} is missing ({f.name}): re-export the package")
            _check_file(f, entry, check_hashes)
            _check_onnx(f)
    return Package(path, meta)


def _bad(manifest: Path, where: str, want: str):
    return PackageError(f"{manifest}: {where} should be {want}: re-export the package instead of editing it")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_io(manifest: Path, io, fields: Dict[str, str]) -> None:
    """The "io" fields the family's pipeline reads, each of the type it expects."""
    if not isinstance(io, dict):
        raise _bad(manifest, '"io"', "an object")
    checks = {"number": lambda v: (_is_int(v) or isinstance(v, float)) and v == v and abs(v) != float("inf"),
              "int": lambda v: _is_int(v) and 0 < v < 1 << 20,
              "ints": lambda v: isinstance(v, list) and 0 < len(v) <= 8 and all(checks["int"](x) for x in v),
              "shapes": lambda v: isinstance(v, list) and 0 < len(v) <= 64 and all(checks["ints"](x) for x in v)}
    for name, kind in fields.items():
        kind, _, count = kind.partition(":")
        value = io.get(name)
        if kind == "numbers":
            n = io.get(count)
            ok = isinstance(value, list) and len(value) == n and all(checks["number"](x) for x in value)
            if not ok:
                raise _bad(manifest, f"io.{name}", f"a list of {n} numbers (io.{count})")
        elif not checks[kind](value):
            raise _bad(manifest, f"io.{name}", {"number": "a finite number", "int": "a positive whole number",
                                                "ints": "a list of positive whole numbers",
                                                "shapes": "a list of shapes (lists of whole numbers)"}[kind])


def _check_tensors(manifest: Path, graph: str, g: Dict) -> None:
    """A graph's inputs and outputs: [{"name": str, "shape": [int or str, ...]}, ...]."""
    for side in ("inputs", "outputs"):
        tensors = g.get(side)
        ok = isinstance(tensors, list) and tensors and all(
            isinstance(t, dict) and isinstance(t.get("name"), str) and isinstance(t.get("shape"), list)
            and all(_is_int(d) or isinstance(d, str) for d in t["shape"]) for t in tensors)
        if not ok:
            raise _bad(manifest, f"graphs.{graph}.{side}", 'a list of {"name", "shape"} entries')


def inside(folder: Path, name: object) -> Path:
    """``folder / name``, refused unless it stays inside ``folder`` once resolved (no ``..``,
    no absolute path, no symlink out), so a package can only name its own files."""
    root = Path(folder).resolve()
    f = (root / str(name)).resolve()
    if not name or not isinstance(name, str) or root not in f.parents:
        raise PackageError(f"{folder}: {MANIFEST} names a file outside the package ({name!r}): "
                           f"re-export the package; never run packages from untrusted sources")
    return f


def _check_onnx(f: Path) -> None:
    """A well-formed ONNX model whose external data, if any, lies inside the package."""
    try:
        locations = onnxfile.external_data(f.read_bytes())
    except ValueError as e:
        raise PackageError(f"{f} is not a valid ONNX graph ({e}): re-export the package") from None
    root = f.parent.resolve()
    for location in locations:
        if root not in (root / location).resolve().parents:
            raise PackageError(f"{f} names external data outside the package ({location!r}): re-export the "
                               f"package; never run packages from untrusted sources")


def _check_file(f: Path, entry: Dict[str, Any], check_hashes: bool) -> None:
    if check_hashes and sha256(f) != entry.get("sha256"):
        raise PackageError(f"{f} does not match the sha256 in {MANIFEST} (modified or "
                           f"corrupt): re-export the package")

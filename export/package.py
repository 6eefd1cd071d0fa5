"""``stylert export``: a trained model -> a model package (ONNX graphs + stylert.json),
with the parity gate: every graph and precision is run in ONNX Runtime (CPU) against the
PyTorch module on the same inputs, and the export fails when one misses its threshold.

The package is written to a temporary folder beside the destination and renamed into
place at the end, so a failed or interrupted export leaves nothing half-written.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import onnx
import onnxruntime
import torch
from tqdm import tqdm

from stylert import __version__, families, folders
from stylert import package as pkg
from stylert import parity
from stylert.backends.onnxrt import session
from stylert.backends.pytorch import TorchEngine
from stylert.backends.selfcheck import CHAIN
from stylert.errors import ExportError

from . import models
from .checkpoints import save_atomic, stylert_checkpoint
from .convert import OPSET, signature, tensorrt_qdq_problems, to_fp16, to_int8, to_onnx
from .graphs import Graph


class ParityError(ExportError):
    """An export whose graphs do not match PyTorch; the message holds the report."""

    exit_code = 1  # not the user's mistake: a bug to report


def load_model(kind: str, checkpoint: Optional[str] = None, *, vgg: Optional[str] = None,
               decoder: Optional[str] = None, size: Optional[int] = None,
               allow_pickle: bool = False):
    """(model, {role: source file}) for ``kind``; the bundled default when no file is named."""
    if kind not in families.FAMILIES:
        raise ExportError(f"unknown model kind '{kind}': choose one of {', '.join(families.KINDS)}")
    if (vgg is None) != (decoder is None) or (vgg and kind != "adain"):
        raise ExportError("--vgg and --decoder go together, and only with adain")
    if vgg and checkpoint:
        raise ExportError("give either --checkpoint or --vgg/--decoder, not both")
    if size is not None and kind != "stylegan":
        raise ExportError("--size applies to stylegan only")
    if vgg:
        return models.load_reference(vgg, decoder, allow_pickle=allow_pickle), {"vgg": vgg, "decoder": decoder}
    options = {"size": size} if size else {}
    model = models.load(kind, checkpoint, allow_pickle=allow_pickle, **options)
    if size and model.config["size"] != size:
        raise ExportError(f"{checkpoint or 'the default'} is a {model.config['size']}x{model.config['size']} "
                          f"StyleGAN; --size only picks a resolution of a multi-resolution checkpoint")
    return model, {"checkpoint": checkpoint or str(models.DEFAULTS / f"{kind}.pt")}


def export(kind: str, out: os.PathLike | str, *, checkpoint: Optional[str] = None,
           vgg: Optional[str] = None, decoder: Optional[str] = None, size: Optional[int] = None,
           precisions: Sequence[str] = pkg.PRECISIONS, force: bool = False,
           allow_pickle: bool = False, torch_weights: bool = True, progress: bool = True,
           full_graph: bool = False) -> pkg.Package:
    """Exports ``kind`` to the package folder ``out`` and returns it (see module doc);
    ``full_graph`` adds the family's optional graphs (adain_full)."""
    out = Path(out)
    bad = [p for p in precisions if p not in pkg.PRECISIONS]
    if full_graph and not families.get(kind).optional:
        raise ExportError(f"--full-graph applies to a family with an optional whole-network graph (adain), not {kind}")
    if bad or "fp32" not in precisions:
        raise ExportError(f"precisions must include fp32 and be among {', '.join(pkg.PRECISIONS)}, got {', '.join(precisions)}")
    with folders.building(out, force) as tmp:  # refuses a bad destination before the slow work
        model, sources = load_model(kind, checkpoint, vgg=vgg, decoder=decoder, size=size, allow_pickle=allow_pickle)
        meta = _export_into(tmp, kind, model, sources, precisions, torch_weights, progress, full_graph)
        failed = [r for r in meta["parity"]["results"] if not r["passed"]]
        if failed:
            raise ParityError(f"{kind} export failed the parity gate:\n" + parity.table(meta["parity"]["results"]))
    return pkg.load(out)


def _chain_reference(tmp: Path, meta: Dict, graphs: List[Graph], probe: Dict[str, np.ndarray]) -> np.ndarray:
    """The whole chain's reference (the backends' self-check runs the same chain through the
    pipeline on the engines it checks): the family's chain run through its pipeline on the
    PyTorch modules, fp32 on the CPU."""
    family = families.get(meta["kind"])
    engines = {g.name: TorchEngine(g.module, list(g.inputs), "cpu") for g in graphs}
    with torch.no_grad():
        return families.resolve(family.chain)(family.pipeline_class().over(pkg.Package(tmp, meta), engines), probe)


def _export_into(tmp: Path, kind: str, model, sources: Dict[str, str], precisions: Sequence[str],
                 torch_weights: bool, progress: bool, full_graph: bool = False) -> Dict:
    torch.manual_seed(0)
    with torch.no_grad():
        family = models.family(kind)
        graphs: List[Graph] = family.graphs(model, full=True) if full_graph else family.graphs(model)
    variants = [*precisions, *(pkg.CPU_VARIANTS[p] for p in precisions if p in pkg.CPU_VARIANTS)]
    meta: Dict = {
        "format": pkg.FORMAT, "format_version": pkg.FORMAT_VERSION, "kind": kind,
        "model": model.config,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source": {role: {"file": os.path.basename(p), "sha256": pkg.sha256(p)} for role, p in sources.items()},
        "exporter": {"stylert": __version__, "torch": torch.__version__, "onnx": onnx.__version__,
                     "onnxruntime": onnxruntime.__version__, "opset": OPSET,
                     "method": "torch.onnx.export(dynamo=True)"},
        "io": models.family(kind).io_rules(model),
        "graphs": {},
        "parity": {"reference": "PyTorch fp32 on the same inputs; ONNX Runtime CPU",
                   "thresholds": {p: parity.threshold(p) for p in variants}, "results": []},
    }
    saved: Dict[str, np.ndarray] = {}
    steps = sum(1 + ("fp16" in precisions) + 2 * ("int8" in precisions and bool(g.calibration)) for g in graphs)
    bar = tqdm(total=steps, desc=f"export {kind}", unit="graph", disable=not progress, leave=False)
    for g in graphs:
        with torch.no_grad():
            ref = g.module(*[torch.from_numpy(a) for a in g.sample]).float().numpy()
        feeds = dict(zip(g.inputs, g.sample))
        files = {}
        for precision in variants:
            if precision.startswith("int8") and not g.calibration:
                continue  # graphs without calibration data (e.g. adain_full) have no int8 variant
            path = tmp / pkg.graph_file(g.name, precision)
            bar.set_postfix_str(f"{g.name} {precision}")
            if precision == "fp32":
                to_onnx(g, path)
            elif precision == "fp16":
                to_fp16(tmp / pkg.graph_file(g.name, "fp32"), path)
            else:
                to_int8(tmp / pkg.graph_file(g.name, "fp32"), path, g, operators=precision == "int8-cpu")
                if precision == "int8":  # the portable variant: TensorRT must be able to parse it
                    problems = tensorrt_qdq_problems(onnx.load(str(path)))
                    if problems:
                        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                        raise ExportError(f"{g.name} int8: TensorRT's ONNX parser would refuse this QDQ graph: "
                                          f"{problems[0]}{more}; no package was written (export --precision fp32,fp16 "
                                          f"leaves int8 out; please report this)")
            got = session(path).run(None, feeds)[0]
            result = parity.compare(ref, got)
            passed = parity.passes(result, precision)
            result = {k: (v if np.isfinite(v) else None) for k, v in result.items()}  # JSON has no inf
            meta["parity"]["results"].append({"graph": g.name, "precision": precision, **result,
                                              "passed": passed})
            files[precision] = {"file": path.name, "sha256": pkg.sha256(path)}
            bar.update()
        fp32 = onnx.load(str(tmp / pkg.graph_file(g.name, "fp32")), load_external_data=False)
        meta["graphs"][g.name] = {**signature(fp32), "files": files}
        # The reference probe `stylert verify` (and the backends' self-check) runs again.
        saved.update({f"{g.name}/in/{n}": a for n, a in feeds.items()})
        saved[f"{g.name}/out/{g.output}"] = ref
    bar.close()
    saved[CHAIN] = _chain_reference(tmp, meta, graphs, saved)
    if torch_weights:  # the weights themselves, for the runtime's optional torch backend
        save_atomic(stylert_checkpoint(kind, model.config, model), tmp / "model.pt")
        meta["torch"] = {"file": "model.pt", "sha256": pkg.sha256(tmp / "model.pt")}
    np.savez_compressed(tmp / "parity_io.npz", **saved)
    meta["saved_io"] = {"file": "parity_io.npz", "sha256": pkg.sha256(tmp / "parity_io.npz")}
    meta["checksum"] = pkg.checksum(meta)
    (tmp / pkg.MANIFEST).write_text(json.dumps(meta, indent=2) + "\n")
    return meta

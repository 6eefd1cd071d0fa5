"""``stylert verify PKG``: re-run the parity check on every backend this machine has
(Polygraphy-style: same inputs, every runner, one table).

The reference is the PyTorch output saved at export (``--save-io``) when the package has
it, else ONNX Runtime CPU fp32 on seeded random inputs; each backend and precision is
judged against it with the export's thresholds (stylert.parity).
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from . import parity
from .onnxrt import CPU, CUDA, session
from .package import Package, PackageError, sha256

# Sizes given to symbolic dimensions when no saved inputs exist (each above its minimum).
GENERATED_DIMS = {"batch": 2}
GENERATED_OTHER = 24


def _generated_inputs(graph: Dict) -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {}
    for i in graph["inputs"]:
        shape = [GENERATED_DIMS.get(d, GENERATED_OTHER) if isinstance(d, str) else d for d in i["shape"]]
        feeds[i["name"]] = rng.random(shape, dtype=np.float32)
    return feeds


def _saved_io(pkg: Package) -> Dict[str, np.ndarray] | None:
    entry = pkg.meta.get("saved_io")
    if not entry:
        return None
    path = pkg.path / entry["file"]
    if not path.is_file() or sha256(path) != entry["sha256"]:
        raise PackageError(f"{path} is missing or modified: re-export the package with --save-io")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def backends() -> List[Tuple[str, str]]:
    """(backend name, reason it is unavailable or '') for every backend verify can run: the
    engines' own probe (engines.reasons), so verify and the pipelines never disagree."""
    from .engines import reasons

    why = reasons()
    return [(b, why[b]) for b in ("onnxruntime-cpu", "onnxruntime-cuda", "tensorrt")]


def verify(pkg: Package) -> Tuple[List[Dict], List[Tuple[str, str]], str]:
    """(result rows, skipped backends with reasons, what the reference was)."""
    saved = _saved_io(pkg)
    reference = "PyTorch outputs saved at export" if saved else "ONNX Runtime CPU fp32 on seeded random inputs"
    known = backends()
    usable = [b for b, why in known if not why]
    skipped = [(b, why) for b, why in known if why]
    rows = []
    for name, graph in pkg.graphs.items():
        out_name = graph["outputs"][0]["name"]
        if saved:
            feeds = {i["name"]: saved[f"{name}/in/{i['name']}"] for i in graph["inputs"]}
            ref = saved[f"{name}/out/{out_name}"]
        else:
            feeds = _generated_inputs(graph)
            ref = session(pkg.onnx(name)).run(None, feeds)[0]
        for backend in usable:
            provider = CUDA if backend == "onnxruntime-cuda" else CPU
            # every file on the CPU; on CUDA the portable ones (the CPU-tuned int8 is not for it)
            for precision in (graph["files"] if provider == CPU else pkg.precisions(name)):
                got = session(pkg.onnx(name, precision), provider).run(None, feeds)[0]
                m = parity.compare(ref, got)
                rows.append({"graph": name, "backend": backend, "precision": precision, **m,
                             "passed": parity.passes(m, precision)})
    return rows, skipped, reference

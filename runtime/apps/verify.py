"""``stylert verify PKG``: re-run the package's parity check on every backend this machine
has (Polygraphy-style: the same inputs, every runner, one table).

The reference is what the export saved (parity_io.npz: the parity gate's inputs and the
PyTorch outputs); each backend and precision is judged against it with the export's
thresholds (stylert.parity), so verify and the export gate measure the same thing.
"""

from __future__ import annotations

import argparse
from typing import Dict, List, Tuple

import numpy as np

from .. import parity
from ..backends import reasons
from ..backends.onnxrt import CPU, CUDA, session
from ..errors import PackageError
from ..package import Package
from . import load_package

BACKENDS = ("onnxruntime-cpu", "onnxruntime-cuda", "tensorrt")


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="re-run a package's parity check on every backend here")
    p.add_argument("package")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    pkg = load_package(args.package)
    rows, skipped = verify(pkg)
    print(f"{pkg.kind} package {args.package}; reference: the PyTorch outputs saved at export")
    print(parity.table(rows))
    for backend, why in skipped:
        print(f"skipped {backend}: {why}")
    failed = sum(not r["passed"] for r in rows)
    print(f"{len(rows) - failed} of {len(rows)} checks passed")
    return 1 if failed else 0


def saved_io(pkg: Package) -> Dict[str, np.ndarray]:
    """The parity inputs and PyTorch outputs the export saved."""
    entry = pkg.meta.get("saved_io")
    if not entry:
        raise PackageError(f"{pkg.path} has no saved reference I/O (parity_io.npz; packages from before "
                           f"stylert 0.1 lack it): re-export the package")
    with np.load(pkg.file(entry)) as z:
        return {k: z[k] for k in z.files}


def verify(pkg: Package) -> Tuple[List[Dict], List[Tuple[str, str]]]:
    """(result rows, skipped backends with the reasons from the backends' own probe)."""
    saved = saved_io(pkg)
    why = reasons()
    usable = [b for b in BACKENDS if not why[b]]
    skipped = [(b, why[b]) for b in BACKENDS if why[b]]
    rows = []
    for name, graph in pkg.graphs.items():
        feeds = {i["name"]: saved[f"{name}/in/{i['name']}"] for i in graph["inputs"]}
        ref = saved[f"{name}/out/{graph['outputs'][0]['name']}"]
        for backend in usable:
            provider = CUDA if backend == "onnxruntime-cuda" else CPU
            # every file on the CPU; on CUDA the portable ones (the CPU-tuned int8 is not for it)
            for precision in (graph["files"] if provider == CPU else pkg.precisions(name)):
                got = session(pkg.onnx(name, precision), provider).run(None, feeds)[0]
                m = parity.compare(ref, got)
                rows.append({"graph": name, "backend": backend, "precision": precision, **m,
                             "passed": parity.passes(m, precision)})
    return rows, skipped

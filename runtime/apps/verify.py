"""``stylert verify PKG``: re-run the package's parity check on every backend this machine
has (Polygraphy-style: the same inputs, every runner, one table).

The reference is what the export saved (parity_io.npz: the parity gate's inputs and the
PyTorch outputs, and the whole chain's output); each backend opens the package through the
same engines the pipelines use (so it runs the file a pipeline would, e.g. int8-cpu on the
CPU provider) and is judged with the export's thresholds by the backends' own self-check
(backends/selfcheck.py): each graph alone, then the whole chain through the pipeline
(rows named "chain").
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Dict, List, Tuple

from .. import parity
from ..backends import REGISTRY, reasons, selfcheck
from ..folders import check_report, write_report
from ..package import PRECISIONS, Package, load
from . import path


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="re-run a package's parity check on every backend here")
    p.add_argument("package", type=path)
    p.add_argument("--json", metavar="FILE", type=path, help="also write the checks (chain checks included) as JSON")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    check_report(args.json)
    pkg = load(args.package)
    rows, skipped = verify(pkg)
    print(f"{pkg.kind} package {args.package}; reference: the PyTorch outputs saved at export")
    print(parity.table(rows))
    for backend, why in skipped:
        print(f"skipped {backend}: {why}")
    chain = selfcheck.CHAIN in pkg.reference_io()
    if not chain:
        print("no whole-chain check: this package was exported before stylert saved its chain's reference; "
              "re-export it to have one")
    failed = sum(not r["passed"] for r in rows)
    print(f"{len(rows) - failed} of {len(rows)} checks passed")
    if args.json:
        finite = [{k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in r.items()}
                  for r in rows]
        write_report(args.json, json.dumps({"package": str(pkg.path), "kind": pkg.kind, "chain_reference": chain,
                                            "checks": finite, "skipped": dict(skipped),
                                            "passed": not failed}, indent=1) + "\n")
    return 1 if failed else 0


def verify(pkg: Package) -> Tuple[List[Dict], List[Tuple[str, str]]]:
    """(result rows, skipped backends with the reasons from the backends' own probe)."""
    reference = pkg.reference_io()
    why = reasons()
    rows, skipped = [], [(b, why[b]) for b in REGISTRY if why[b]]
    for name, entry in REGISTRY.items():
        if why[name]:
            continue
        for precision in PRECISIONS:
            graphs = [g for g in pkg.graphs if precision in pkg.graphs[g]["files"]]
            if not graphs or entry.runs(precision) != precision:
                continue  # torch runs only its fp32 reference weights
            verdict = selfcheck.run_probe(pkg, entry.open(pkg, graphs, precision, True), reference)
            rows += [{**r, "backend": name} for r in verdict.rows]
    return rows, skipped

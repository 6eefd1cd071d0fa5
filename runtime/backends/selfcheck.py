"""Backends verify themselves before a pipeline trusts them: the engines a backend opened run
the package's saved reference probe (the export gate's inputs, parity_io.npz) and must meet
the gate's threshold for the precision they run (stylert.parity). The verdict is cached per
(package, backend and its version, device, precision), so it costs one small run per
machine, not per start. This is what makes code that was never run on a GPU here safe to
ship: a backend that computes something wrong is skipped (auto) or refused (named), with
the figure.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Dict, Optional

from .. import parity
from ..folders import atomic_write, cache_root, locked
from ..package import Package, base_precision
from .base import Engine


@dataclass(frozen=True)
class Verdict:
    passed: bool
    detail: str  # the failing figure, e.g. "decoder int8-cpu PSNR 21.3 dB < 25 dB"; '' when passed
    rows: tuple = ()  # per graph: parity.compare's figures, with graph, variant and passed


def run_probe(pkg: Package, engines: Dict[str, Engine], reference: Optional[Dict] = None) -> Verdict:
    """Runs every engine on the package's reference inputs and judges its output."""
    reference = reference if reference is not None else pkg.reference_io()
    rows, failed = [], []
    for name, engine in engines.items():
        graph = pkg.graphs[name]
        feeds = {i["name"]: reference[f"{name}/in/{i['name']}"] for i in graph["inputs"]}
        want = reference[f"{name}/out/{graph['outputs'][0]['name']}"]
        error = ""
        try:
            m = parity.compare(want, engine.run(feeds))
        except Exception as e:  # a backend that crashes on the probe fails it, with the reason
            m = {"max_abs": float("inf"), "mean_abs": float("inf"), "psnr": float("-inf"), "range": 0.0}
            error = f"{name} {engine.variant} failed to run ({type(e).__name__}: {str(e)[:120]})"
        ok = not error and parity.passes(m, engine.variant)
        rows.append({"graph": name, "precision": engine.variant, **m, "passed": ok})
        if not ok:
            failed.append(error or f"{name} {engine.variant} {_figure(m, engine.variant)}")
    return Verdict(not failed, "; ".join(failed), tuple(rows))


def _figure(m: Dict, variant: str) -> str:
    """The figure that failed, next to the gate's rule for the variant."""
    precision = base_precision(variant)
    if precision == "fp32":
        return f"max abs error {m['max_abs']:.3g} over {parity.threshold(variant)}"
    return f"PSNR {m['psnr']:.1f} dB < {parity.MIN_PSNR[precision]:g} dB"


def _key(pkg: Package, backend: str, version: str, engines: Dict[str, Engine]) -> str:
    first = next(iter(engines.values()))
    parts = {"package": pkg.meta.get("checksum"), "backend": backend, "version": version, "device": first.device,
             "variants": {n: e.variant for n, e in engines.items()}}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def verdicts_file():
    return cache_root() / "verdicts.json"


def check(pkg: Package, backend: str, version: str, engines: Dict[str, Engine]) -> Verdict:
    """The cached verdict for these engines, or a fresh one (then cached)."""
    key, path = _key(pkg, backend, version, engines), verdicts_file()
    known = _read(path)
    if key in known:
        return Verdict(known[key]["passed"], known[key]["detail"])
    verdict = run_probe(pkg, engines)
    try:
        with locked(path.with_suffix(".lock")):
            known = _read(path)
            known[key] = {"passed": verdict.passed, "detail": verdict.detail, "backend": backend,
                          "package": str(pkg.path)}
            atomic_write(path, json.dumps(known, indent=1))
    except OSError:  # a read-only cache only costs the probe again next time
        pass
    return verdict


def _read(path) -> Dict:
    try:
        known = json.loads(path.read_text())
        return known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        return {}

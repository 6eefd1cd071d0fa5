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

from .. import families, parity
from ..folders import atomic_write, cache_root, locked
from ..package import Package, base_precision
from .base import Engine


@dataclass(frozen=True)
class Verdict:
    passed: bool
    detail: str  # the failing figure, e.g. "decoder int8-cpu PSNR 21.3 dB < 25 dB"; '' when passed
    rows: tuple = ()  # per graph: parity.compare's figures, with graph, variant and passed


CHAIN = "chain/out"  # the whole chain's reference output in parity_io.npz (see families.Family.chain)


def run_probe(pkg: Package, engines: Dict[str, Engine], reference: Optional[Dict] = None) -> Verdict:
    """Runs every engine on the package's reference inputs and judges its output, then the
    whole chain as the pipeline runs it on these engines (run_chain)."""
    reference = reference if reference is not None else pkg.reference_io()
    rows, failed = [], []
    for name, engine in engines.items():
        graph = pkg.graphs[name]
        feeds = {i["name"]: reference[f"{name}/in/{i['name']}"] for i in graph["inputs"]}
        want = reference[f"{name}/out/{graph['outputs'][0]['name']}"]
        _judge(name, engine.gate, want, lambda: engine.run(feeds), rows, failed)
    chain = run_chain(pkg, engines, reference)
    if chain is not None:
        _judge("chain", *chain, rows, failed)
    return Verdict(not failed, "; ".join(failed), tuple(rows))


def run_chain(pkg: Package, engines: Dict[str, Engine], reference: Dict):
    """(variant, want, run) of the whole-chain probe: the family's ``chain`` run through its
    pipeline on these engines (uploads, kernels on the engines' stream, downloads: what the
    per-graph probes, fed and read on the host one graph at a time, never take); None when
    the package has no chain reference (exported before it) or these are not all its graphs."""
    family = families.get(pkg.kind)
    cls = family.pipeline_class()
    needs = cls.graphs or list(pkg.graphs)
    if not family.chain or CHAIN not in reference or any(n not in engines for n in needs):
        return None
    mine = {n: engines[n] for n in needs}
    run = families.resolve(family.chain)
    return mine[needs[0]].gate, reference[CHAIN], lambda: run(cls.over(pkg, mine), reference)


def _judge(part: str, variant: str, want, run, rows: list, failed: list) -> None:
    """Runs one probe and adds its row, and its failure (naming the part) when it misses;
    ``variant``: the rule it is judged by (Engine.gate)."""
    error = ""
    try:
        m = parity.compare(want, run())
    except Exception as e:  # a backend that crashes on the probe fails it, with the reason
        m = {"max_abs": float("inf"), "mean_abs": float("inf"), "psnr": float("-inf"), "range": 0.0}
        error = f"{part} {variant} failed to run ({type(e).__name__}: {str(e)[:120]})"
    ok = not error and parity.passes(m, variant)
    rows.append({"graph": part, "precision": variant, **m, "passed": ok})
    if not ok:
        failed.append(error or f"{part} {variant} {_figure(m, variant)}")


def _figure(m: Dict, variant: str) -> str:
    """The figure that failed, next to the gate's rule for the variant."""
    precision = base_precision(variant)
    if precision in parity.MAX_ABS_OF_RANGE:
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
    entry = known.get(key)
    if isinstance(entry, dict) and isinstance(entry.get("passed"), bool) and isinstance(entry.get("detail"), str):
        return Verdict(entry["passed"], entry["detail"])  # (anything else in the cache: checked again)
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

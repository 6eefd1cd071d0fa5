"""The bench's harness: every combination (backend x precision x size x batch) built once
(its build time is the cold start), warmed up, then timed together with the others in
turns (A, B, A, B, ...) so that a noisy machine shifts all of them alike; ratios against
the baseline are medians of per-pair ratios. Per-stage times come from the pipelines' own
stage timers.

``measure`` is the part that times any callables (the kernel bench and benchmarks/ use it
too); ``run`` builds the pipelines, measures them and writes the report's rows.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .. import families
from ..errors import BenchError
from ..sysinfo import peak_rss_mb
from ..timing import NOISY_CV, interleaved, summarize
from .probes import device_mb, gpu_warnings, machine_warnings, rss_mb
from .report import in_order

# The model families, plus the fused kernel alone and live (a camera frame through the Stylizer).
MODELS = (*families.KINDS, "kernel", "live")
# 0: the model's own size; live: processing widths (4:3) for a 640x480 camera frame
DEFAULT_SIZES = {**{f.kind: f.bench_sizes for f in families.FAMILIES.values()}, "kernel": [32, 64], "live": [320]}
LIVE_SOURCE = (640, 480)
# a backend with each input shape captured into a CUDA graph, to compare with it plain
GRAPHS = {"tensorrt+graphs": "tensorrt", "onnxruntime-cuda+graphs": "onnxruntime-cuda"}


@dataclass
class Figures:
    """What the harness makes of one candidate's timed calls."""

    samples_ns: List[int]       # per call, in the order run
    stats: Dict[str, float]     # timing.summarize: n, min/mean/median/p90/p95/p99/max/std (ms), cv
    warnings: List[str]         # noisy, too few iterations
    speedup: Optional[float] = None  # against the baseline: the median of the per-pair ratios


def warnings_for(stats: Dict, iterations: int) -> List[str]:
    out = []
    if stats["cv"] > NOISY_CV:
        out.append(f"noisy: coefficient of variation {stats['cv']:.0%}")
    if iterations < 10:
        out.append(f"only {iterations} iterations")
    return out


def figures(samples_ns: List[int], baseline_ns: Optional[List[int]] = None) -> Figures:
    """A candidate's statistics from its per-call times; with ``baseline_ns`` (timed in the
    same turns) the median of the per-pair ratios baseline / candidate."""
    stats = summarize(samples_ns)
    speedup = None
    if baseline_ns is not None:
        speedup = float(np.median(np.asarray(baseline_ns, np.float64) / np.asarray(samples_ns, np.float64)))
    return Figures(list(samples_ns), stats, warnings_for(stats, len(samples_ns)), speedup)


def measure(calls: Dict[str, Callable[[], object]], *, warmup: int, iterations: int, seconds: float,
            baselines: Optional[Dict[str, str]] = None, max_iterations: int = 10_000, gap_s: float = 0.0,
            progress: Optional[Callable[[int], None]] = None) -> Dict[str, Figures]:
    """Each callable called ``warmup`` times untimed, then all timed in turns until each ran
    ``iterations`` times and ``seconds`` passed (timing.interleaved, ``gap_s`` untimed between
    calls); their figures, each with its speed-up against the candidate ``baselines`` names
    for it (absent: none)."""
    samples = interleaved(calls, warmup=warmup, min_iterations=iterations, min_seconds=seconds,
                          max_iterations=max_iterations, gap_s=gap_s, progress=progress)
    base = baselines or {}
    return {name: figures(times, samples[base[name]] if name in base else None) for name, times in samples.items()}


def _live_size(width: int) -> Tuple[int, int]:
    """A processing width -> (width, height) with the camera frame's 4:3 shape."""
    return width, max(16, round(width * LIVE_SOURCE[1] / LIVE_SOURCE[0]))


def _key(model: str, backend: str, precision: str, size: int, batch: int) -> str:
    """A combination's name in tables and reports (and how --compare matches rows)."""
    if model == "live":
        (w, h), (sw, sh) = _live_size(size), LIVE_SOURCE
        return f"{backend} {precision} {w}x{h} from {sw}x{sh}"
    return f"{backend} {precision}" + (f" {size}x{size}" if size else "") + f" batch {batch}"


def _open(cls, package: Optional[str], backend: str, precision: str, cuda_graphs: bool):
    """A pipeline of ``cls`` as its constructor makes one, on engines opened with CUDA graphs
    on or off as asked (the "+graphs" backends), whatever STYLERT_CUDA_GRAPHS says."""
    from ..pipelines import open_pipeline

    pkg, engines, choice = open_pipeline(package, cls.kind, cls.__name__, backend, precision, cls.graphs,
                                         cls.spin, cuda_graphs=cuda_graphs)
    return cls.over(pkg, engines, choice)


def _pipeline(model: str, package: Optional[str], backend: str, precision: str, size: int,
              batch: int) -> Tuple[object, Callable[[], object]]:
    """(pipeline, one timed call) for a combination."""
    graphs = backend in GRAPHS
    backend = GRAPHS.get(backend, backend)
    if model == "live":
        from ..images import ASSETS
        from ..pipelines.stylizer import Stylizer
        from ..video import DemoSource

        p = _open(Stylizer, package, backend, precision, graphs)
        p.set_style(str(ASSETS / "coffee.jpg"))
        demo = DemoSource(*LIVE_SOURCE, frames=30, fps=1e6)  # the demo scene's frames, unpaced
        frames = itertools.cycle([demo.read() for _ in range(30)])
        return p, lambda: p.frame(next(frames), _live_size(size))
    family = families.get(model)
    p = _open(family.pipeline_class(), package, backend, precision, graphs)
    return p, families.resolve(family.bench)(p, size, batch)


# live's threaded run, given by the app (stylert.apps.bench): (LiveOptions fields) -> summary.
# The bench sits below the apps; it is handed the live loop rather than importing it.
LiveRun = Callable[..., Dict]


def _live_figures(live_run: LiveRun, backend: str, precision: str, size: int, package: Optional[str],
                  seconds: float) -> Dict:
    """`stylert live` on the camera-paced demo scene (30 FPS, 640x480) for ``seconds``:
    FPS at the sink, capture-to-output latency, dropped frames (threads overlap here)."""
    s = live_run(source="demo", outputs=["none"], size=_live_size(size), backend=backend,
                 precision=precision, package=package, duration=seconds, quiet=True)
    return {"fps": s["fps"], "latency_ms": s["latency_ms"], "frames_captured": s["frames_captured"],
            "frames_processed": s["frames_processed"], "frames_dropped": s["frames_dropped"]}


def run(model: str, backends: List[str], precisions: List[str], sizes: List[int], batches: List[int],
        warmup: int, iterations: int, seconds: float, baseline: Optional[str], package: Optional[str],
        progress: bool = True, live_run: Optional[LiveRun] = None) -> Dict:
    """All combinations, timed in turns; returns the report (see README). ``live_run``: the
    live loop, for model "live"."""
    if model not in MODELS:
        raise BenchError(f"unknown model {model!r}: choose one of {', '.join(MODELS)}")
    if model == "live" and live_run is None:
        raise ValueError("bench live needs the live loop (live_run)")
    if model == "live" and batches != [1]:
        raise BenchError("live takes one camera frame at a time: leave out --batch")
    if model == "live" and not all(16 <= s <= LIVE_SOURCE[0] for s in sizes):
        raise BenchError(f"live --size takes processing widths from 16 to {LIVE_SOURCE[0]} (height: 3/4 of it)")
    combos = list(itertools.product(backends, precisions, sizes, batches))
    if baseline == "torch-eager":
        combos = [("torch", "fp32", s, b) for s in sizes for b in batches] + \
                 [c for c in combos if c[:2] != ("torch", "fp32")]
    pipes, calls, cold, rss, device = {}, {}, {}, {}, {}
    for backend, precision, size, batch in combos:
        key = _key(model, backend, precision, size, batch)
        t0, before = time.perf_counter(), rss_mb()
        device_mb(reset=True)
        pipe, call = _pipeline(model, package, backend, precision, size, batch)
        call()  # the first call allocates the sessions' buffers: part of the footprint
        cold[key], rss[key], device[key] = time.perf_counter() - t0, rss_mb() - before, device_mb()
        pipes[key], calls[key] = pipe, call
    for pipe in pipes.values():
        pipe.stages.enabled = True
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(desc=f"bench {model}", unit="round", leave=False)
    # each combination against PyTorch eager at its own size and batch
    against = {_key(model, *c): _key(model, "torch", "fp32", *c[2:]) for c in combos} if baseline else None
    figs = measure(calls, warmup=warmup, iterations=iterations, seconds=seconds, baselines=against,
                   max_iterations=max(iterations, 10_000), gap_s=0.05,
                   progress=(lambda r: bar.update()) if bar is not None else None)
    if bar is not None:
        bar.close()
    rows = []
    for (backend, precision, size, batch), key in zip(combos, calls):
        fig, pipe = figs[key], pipes[key]
        n_calls = len(fig.samples_ns) + warmup
        times = {name: v for name, v in pipe.stages.collect().items() if len(v) >= n_calls}  # once per call
        stages = {name: float(np.median(times[name])) / 1e6 for name in in_order(times, pipe.stages_order)}
        row = {"model": model, "backend": pipe.backend,
               "precision": precision, "size": size, "batch": batch, "key": key, **fig.stats,
               "throughput_per_s": batch / (fig.stats["median_ms"] / 1e3), "cold_start_s": cold[key],
               "rss_growth_mb": rss[key], "device_peak_mb": device[key],
               "samples_ms": [t / 1e6 for t in fig.samples_ns[:5000]],
               "stages_median_ms": stages, "warnings": fig.warnings,
               "engines": {g: e.info() for g, e in pipe.engines.items() if e.info()}}
        if fig.speedup is not None:
            row["speedup_vs_baseline"] = fig.speedup
        if model == "live":
            row["live"] = _live_figures(live_run, backend, precision, size, package, max(seconds, 1.0))
        rows.append(row)
    from ..sysinfo import describe

    packages = {key: {"path": str(p.package.path), "checksum": p.package.meta.get("checksum")}
                for key, p in pipes.items()}
    return {"system": describe(), "model": model, "rows": rows, "packages": packages,
            "peak_rss_mb": peak_rss_mb(),
            "machine_warnings": machine_warnings() + (gpu_warnings() if any(
                "cuda" in r["backend"] or "tensorrt" in r["backend"] for r in rows) else []),
            "baseline": baseline}

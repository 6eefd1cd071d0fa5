"""``stylert bench``: latency of the pipelines for every combination asked for, in one run.

Each combination (backend x precision x size x batch) is a pipeline built once (its build
time is the cold start), warmed up, then timed together with the others in turns (A, B,
A, B, ...) so that a noisy machine shifts all of them alike; ratios against the baseline
are medians of per-pair ratios. Per-stage times come from the pipelines' own stage timers.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import resource
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .. import adain, families
from ..errors import BenchError
from ..folders import check_report, write_report
from ..limits import count, counts, pixels
from ..timing import NOISY_CV, interleaved, summarize
from . import PRECISIONS, names, nonneg, positive_ints

# The model families, plus the fused kernel alone and live (a camera frame through the Stylizer).
MODELS = (*families.KINDS, "kernel", "live")
CHANNELS = 512  # relu4_1 of VGG-19
# 0: the model's own size; live: processing widths (4:3) for a 640x480 camera frame
DEFAULT_SIZES = {**{f.kind: f.bench_sizes for f in families.FAMILIES.values()}, "kernel": [32, 64], "live": [320]}
LIVE_SOURCE = (640, 480)
# a backend with each input shape captured into a CUDA graph, to compare with it plain
GRAPHS = {"tensorrt+graphs": "tensorrt", "onnxruntime-cuda+graphs": "onnxruntime-cuda"}


def add_parser(sub) -> None:
    from ..backends import BACKENDS

    p = sub.add_parser("bench", help="latency of the pipelines, every combination in one interleaved run")
    p.add_argument("model", nargs="?", choices=MODELS,
                   help="live: per 640x480 camera frame (resize, stylize, resize back), then `stylert live` "
                        "on the camera-paced demo scene for FPS and capture-to-output latency")
    p.add_argument("--backend", type=names([*BACKENDS, *GRAPHS]), default=["auto"],
                   help=f"e.g. onnxruntime-cpu,torch; {', '.join(GRAPHS)}: with CUDA graphs, to compare with "
                        f"the same backend without")
    p.add_argument("--precision", type=names(PRECISIONS), default=["fp32"], help="e.g. fp32,int8")
    p.add_argument("--size", type=positive_ints, help="adain: square frame sizes, e.g. 256,512 (default 256); "
                   "kernel: feature sides (default 32,64); live: processing widths, e.g. 320,288 (default 320)")
    p.add_argument("--batch", type=counts("batch"), default=[1], help="e.g. 1,8")
    p.add_argument("--warmup", type=count("warmup"), default=3, help="untimed calls per combination")
    p.add_argument("--iterations", type=count("iterations"), default=20, help="at least this many timed calls each")
    p.add_argument("--duration", type=nonneg, default=3.0, help="and at least this many seconds in all")
    p.add_argument("--baseline", choices=["torch-eager"], help="add PyTorch eager and give ratios against it")
    p.add_argument("--package", help="model package (default: the bundled one)")
    p.add_argument("--json", help="write the full report (system description included)")
    p.add_argument("--markdown", help="write the table")
    p.add_argument("--plot", help="write a PNG: latency distributions and per-stage bars (needs matplotlib)")
    p.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"), help="compare two --json reports")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    if args.compare:
        print(compare(load_report(args.compare[0]), load_report(args.compare[1])))
        return 0
    if not args.model:
        raise BenchError(f"name a model ({', '.join(MODELS)}) or give --compare OLD.json NEW.json")
    sizes = args.size or DEFAULT_SIZES[args.model]
    sized = [m for m in MODELS if DEFAULT_SIZES[m] != [0]]  # 0: the model's own, single size
    if args.model not in sized and args.size:
        raise BenchError(f"--size applies to {', '.join(sized)} (the other models have one size)")
    check_report(args.json)
    check_report(args.markdown)
    for side in (args.size or []):  # square frames, a batch of them: refused before any allocation
        pixels(side, side, f"--size {side} with --batch {max(args.batch)}", max(args.batch))
    if args.model == "kernel":
        report = run_kernel(sizes, args.warmup, args.iterations, args.duration)
    else:
        report = run(args.model, args.backend, args.precision, sizes, args.batch, args.warmup,
                     args.iterations, args.duration, args.baseline, args.package)
    text = markdown(report)
    print(text)
    if args.json:
        write_report(args.json, json.dumps(report, indent=1) + "\n")
    if args.markdown:
        write_report(args.markdown, text + "\n")
    if args.plot:
        plot(report, args.plot)
    return 0

STAGE_ORDER = ["resize in", "pre-process", "host->device", "encoder", "mapping", "adain", "synthesis", "decoder",
               "device->host", "post-process", "resize out"]


def numpy_adain(x, s_mean, s_std, eps=adain.DEFAULT_EPS):
    """AdaIN as numpy operations (the baseline without the extension)."""
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    mean = flat.mean(axis=2).reshape(n, c, 1, 1)
    std = np.sqrt(flat.var(axis=2, ddof=1) + eps).reshape(n, c, 1, 1)
    return (x - mean) / std * s_std + s_mean


def kernel_candidates(side: int, rng: np.random.Generator, torch):
    """The fused AdaIN kernel (fp32, fp16), numpy, a plain copy and (with torch) the PyTorch
    composite on 1x512xSIDExSIDE features with precomputed style statistics; returns
    (candidates, bytes of x)."""
    x = (rng.standard_normal((1, CHANNELS, side, side), dtype=np.float32) * 2.0 + 0.5)
    style = rng.standard_normal((1, CHANNELS, side, side), dtype=np.float32) * 3.0 - 1.0
    s_mean, s_std = adain.channel_stats(style)
    out = np.empty_like(x)
    x16, out16 = x.astype(np.float16), np.empty(x.shape, np.float16)
    copy_dst = np.empty_like(x)
    nm, ns = s_mean.reshape(1, -1, 1, 1), s_std.reshape(1, -1, 1, 1)
    cands = {
        "stylert fused fp32": lambda: adain.adain(x, s_mean, s_std, out=out),
        "stylert fused fp16": lambda: adain.adain(x16, s_mean, s_std, out=out16),
        "numpy composite": lambda: numpy_adain(x, nm, ns),
        "copy (np.copyto)": lambda: np.copyto(copy_dst, x),
    }
    if torch is not None:
        from stylert.export.ops import adain_from_stats

        xt, tm, ts = torch.from_numpy(x), torch.from_numpy(nm), torch.from_numpy(ns)

        def torch_composite():
            with torch.inference_mode():
                return adain_from_stats(xt, tm, ts)

        cands["pytorch composite"] = torch_composite
        # Guard: never time a kernel that disagrees with the reference.
        err = float(np.abs(cands["stylert fused fp32"]() - torch_composite().numpy()).max())
        if err > 1e-3:
            raise SystemExit(f"fused kernel disagrees with PyTorch at {side}x{side}: {err}")
    return cands, x.nbytes


def run_kernel(sides: List[int], warmup: int, iterations: int, seconds: float) -> Dict:
    """The fused kernel against numpy and (when installed) the PyTorch composite, per size;
    ratios against the PyTorch composite."""
    try:
        import torch
    except ImportError:
        torch = None
    rng, rows = np.random.default_rng(0), []
    for side in sides:
        cands, _ = kernel_candidates(side, rng, torch)
        samples = interleaved(cands, warmup=warmup, min_iterations=iterations, min_seconds=seconds)
        base = samples.get("pytorch composite")
        for name, times in samples.items():
            stats = summarize(times)
            row = {"model": "kernel", "backend": name, "precision": "fp16" if "fp16" in name else "fp32",
                   "size": side, "batch": 1, "key": f"{name} 1x{CHANNELS}x{side}x{side}", **stats,
                   "throughput_per_s": 1e3 / stats["median_ms"], "cold_start_s": 0.0, "stages_median_ms": {},
                   "warnings": warnings_for(stats, len(times))}
            if base is not None:
                row["speedup_vs_baseline"] = float(np.median(np.asarray(base, np.float64) / np.asarray(times, np.float64)))
            rows.append(row)
    from ..sysinfo import describe

    return {"system": describe(), "model": "kernel", "rows": rows, "packages": {},
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "machine_warnings": machine_warnings(), "baseline": "pytorch composite" if torch else None}


def _live_size(width: int) -> Tuple[int, int]:
    """A processing width -> (width, height) with the camera frame's 4:3 shape."""
    return width, max(16, round(width * LIVE_SOURCE[1] / LIVE_SOURCE[0]))


def _key(model: str, backend: str, precision: str, size: int, batch: int) -> str:
    """A combination's name in tables and reports (and how --compare matches rows)."""
    if model == "live":
        (w, h), (sw, sh) = _live_size(size), LIVE_SOURCE
        return f"{backend} {precision} {w}x{h} from {sw}x{sh}"
    return f"{backend} {precision}" + (f" {size}x{size}" if size else "") + f" batch {batch}"


@contextlib.contextmanager
def _cuda_graphs(on: bool):
    """STYLERT_CUDA_GRAPHS while a pipeline opens its engines (backends.cuda.graphs_wanted)."""
    previous = os.environ.get("STYLERT_CUDA_GRAPHS")
    os.environ["STYLERT_CUDA_GRAPHS"] = "1" if on else "0"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["STYLERT_CUDA_GRAPHS"]
        else:
            os.environ["STYLERT_CUDA_GRAPHS"] = previous


def _pipeline(model: str, package: Optional[str], backend: str, precision: str, size: int,
              batch: int) -> Tuple[object, Callable[[], object]]:
    """(pipeline, one timed call) for a combination."""
    graphs = backend in GRAPHS
    backend = GRAPHS.get(backend, backend)
    if model == "live":
        from ..images import ASSETS
        from ..pipelines.stylizer import Stylizer
        from ..video import DemoSource

        with _cuda_graphs(graphs):
            p = Stylizer(package, backend=backend, precision=precision)
        p.set_style(str(ASSETS / "coffee.jpg"))
        demo = DemoSource(*LIVE_SOURCE, frames=30, fps=1e6)  # the demo scene's frames, unpaced
        frames = itertools.cycle([demo.read() for _ in range(30)])
        return p, lambda: p.frame(next(frames), _live_size(size))
    family = families.get(model)
    with _cuda_graphs(graphs):
        p = family.pipeline_class()(package, backend=backend, precision=precision)
    return p, families.resolve(family.bench)(p, size, batch)


def _live_run(backend: str, precision: str, size: int, package: Optional[str], seconds: float) -> Dict:
    """`stylert live` on the camera-paced demo scene (30 FPS, 640x480) for ``seconds``:
    FPS at the sink, capture-to-output latency, dropped frames (threads overlap here)."""
    from .live import LiveOptions, run as live_run

    s = live_run(LiveOptions(source="demo", outputs=["none"], size=_live_size(size), backend=backend,
                             precision=precision, package=package, duration=seconds, quiet=True))
    return {"fps": s["fps"], "latency_ms": s["latency_ms"], "frames_captured": s["frames_captured"],
            "frames_processed": s["frames_processed"], "frames_dropped": s["frames_dropped"]}


_DEVICE_USED_AT_RESET = [0.0]


def _device_mb(reset: bool = False) -> Optional[float]:
    """Device memory a pipeline took (MiB), or None when no GPU pipeline runs: on torch-CUDA
    the peak PyTorch allocated since the last reset; on the CuPy-based backends (ONNX
    Runtime's arena, TensorRT's engines and buffers) the growth of the device's used memory
    since the reset (device-wide, as nvidia-smi counts it; it includes the CUDA context when
    the pipeline was the first to start CUDA). Never starts CUDA just to ask."""
    torch, cupy = sys.modules.get("torch"), sys.modules.get("cupy")
    if torch is not None and torch.cuda.is_initialized():
        if reset:
            torch.cuda.reset_peak_memory_stats()
        return torch.cuda.max_memory_allocated() / 2**20
    if cupy is None:
        _DEVICE_USED_AT_RESET[0] = 0.0  # CUDA starts later, in the pipeline: count from nothing
        return None
    try:
        free, total = cupy.cuda.runtime.memGetInfo()
    except Exception:  # no device, or no driver: nothing to report
        return None
    used = (total - free) / 2**20
    if reset:
        _DEVICE_USED_AT_RESET[0] = used
    return used - _DEVICE_USED_AT_RESET[0]


def _rss_mb() -> float:
    """Resident memory of this process now (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return 0.0


def warnings_for(stats: Dict, iterations: int) -> List[str]:
    out = []
    if stats["cv"] > NOISY_CV:
        out.append(f"noisy: coefficient of variation {stats['cv']:.0%}")
    if iterations < 10:
        out.append(f"only {iterations} iterations")
    return out


def machine_warnings() -> List[str]:
    """Conditions that make any timing here less trustworthy."""
    out = []
    gov = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"
    if os.path.exists(gov):
        with open(gov) as f:
            g = f.read().strip()
        if g != "performance":
            out.append(f"CPU frequency scaling governor is '{g}' (not 'performance')")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.5 * cores:
        out.append(f"busy machine: load average {load:.1f} on {cores} cores")
    return out


# nvidia-smi's clock event reasons (NVML's nvmlClocksEventReason* bits).
USER_CLOCKS = 0x2  # clocks set by the user (nvidia-smi -lgc / -ac): locked
SLOWDOWNS = {0x4: "software power cap", 0x8: "hardware slowdown", 0x20: "software thermal slowdown",
             0x40: "hardware thermal slowdown", 0x80: "hardware power brake"}


def gpu_warnings(smi: str = "nvidia-smi") -> List[str]:
    """After a GPU run: unlocked clocks (boost varies run to run) or a slowdown now, from
    nvidia-smi; nothing where it is missing or says nothing."""
    import subprocess

    for field in ("clocks_event_reasons.active", "clocks_throttle_reasons.active"):  # new, old drivers
        try:
            done = subprocess.run([smi, f"--query-gpu={field},clocks.sm,clocks.max.sm",
                                   "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return []
        if done.returncode == 0:
            break
    else:
        return []
    out = []
    for i, line in enumerate(done.stdout.strip().splitlines()):
        try:
            reasons, sm, sm_max = (v.strip() for v in line.split(","))
            bits = int(reasons, 16)
        except ValueError:
            continue
        if not bits & USER_CLOCKS:
            out.append(f"GPU {i}: clocks are not locked (SM {sm} of {sm_max} MHz now): boost clocks vary from run "
                       f"to run; lock them for comparable numbers: sudo nvidia-smi -lgc {sm_max}")
        slow = [name for bit, name in SLOWDOWNS.items() if bits & bit]
        if slow:
            out.append(f"GPU {i}: clocks held down by {', '.join(slow)}: timings are lower than the GPU can do")
    return out


def run(model: str, backends: List[str], precisions: List[str], sizes: List[int], batches: List[int],
        warmup: int, iterations: int, seconds: float, baseline: Optional[str], package: Optional[str],
        progress: bool = True) -> Dict:
    """All combinations, timed in turns; returns the report (see README)."""
    if model not in MODELS:
        raise BenchError(f"unknown model {model!r}: choose one of {', '.join(MODELS)}")
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
        t0, before = time.perf_counter(), _rss_mb()
        _device_mb(reset=True)
        pipe, call = _pipeline(model, package, backend, precision, size, batch)
        call()  # the first call allocates the sessions' buffers: part of the footprint
        cold[key], rss[key], device[key] = time.perf_counter() - t0, _rss_mb() - before, _device_mb()
        pipes[key], calls[key] = pipe, call
    for pipe in pipes.values():
        pipe.stages.enabled = True
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(desc=f"bench {model}", unit="round", leave=False)
    samples = interleaved(calls, warmup=warmup, min_iterations=iterations, min_seconds=seconds,
                          max_iterations=max(iterations, 10_000), gap_s=0.05,
                          progress=(lambda r: bar.update()) if bar is not None else None)
    if bar is not None:
        bar.close()
    rows = []
    for (backend, precision, size, batch), key in zip(combos, samples):
        stats = summarize(samples[key])
        pipe = pipes[key]
        n_calls = len(samples[key]) + warmup
        stages = {name: float(np.median(v)) / 1e6 for name, v in pipe.stages.collect().items()
                  if len(v) >= n_calls}  # stages that run once per call
        row = {"model": model, "backend": pipe.backend,
               "precision": precision, "size": size, "batch": batch, "key": key, **stats,
               "throughput_per_s": batch / (stats["median_ms"] / 1e3), "cold_start_s": cold[key],
               "rss_growth_mb": rss[key], "device_peak_mb": device[key], "samples_ms": [t / 1e6 for t in samples[key][:5000]],
               "stages_median_ms": stages, "warnings": warnings_for(stats, len(samples[key])),
               "engines": {g: e.info() for g, e in pipe.engines.items() if e.info()}}
        base = _key(model, "torch", "fp32", size, batch) if baseline else None
        if base:
            ratio = np.asarray(samples[base], np.float64) / np.asarray(samples[key], np.float64)
            row["speedup_vs_baseline"] = float(np.median(ratio))
        if model == "live":
            row["live"] = _live_run(backend, precision, size, package, max(seconds, 1.0))
        rows.append(row)
    from ..sysinfo import describe

    packages = {key: {"path": str(p.package.path), "checksum": p.package.meta.get("checksum")}
                for key, p in pipes.items()}
    return {"system": describe(), "model": model, "rows": rows, "packages": packages,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "machine_warnings": machine_warnings() + (gpu_warnings() if any(
                "cuda" in r["backend"] or "tensorrt" in r["backend"] for r in rows) else []),
            "baseline": baseline}


def markdown(report: Dict) -> str:
    rows = report["rows"]
    present = {s for r in rows for s in r["stages_median_ms"]}
    stage_names = [s for s in STAGE_ORDER if s in present]
    head = ["combination", "min", "median", "p90", "p95", "p99", "max", "cv", "per s", "cold start", "RSS +"]
    gpu = any(r.get("device_peak_mb") is not None for r in rows)
    if gpu:
        head.append("device memory")
    if report["baseline"]:
        head.append(f"vs {report['baseline']}")
    head += [f"{s} (median)" for s in stage_names]
    live = any("live" in r for r in rows)
    if live:
        head += ["live FPS", "capture->output p50", "p95", "dropped"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    for r in rows:
        cells = [r["key"], f"{r['min_ms']:.2f} ms", f"{r['median_ms']:.2f} ms", f"{r['p90_ms']:.2f} ms",
                 f"{r['p95_ms']:.2f} ms", f"{r['p99_ms']:.2f} ms", f"{r['max_ms']:.2f} ms",
                 f"{r['cv']:.0%}" + (" (noisy)" if r["cv"] > NOISY_CV else ""), f"{r['throughput_per_s']:.1f}",
                 f"{r['cold_start_s']:.2f} s", f"{r.get('rss_growth_mb', 0):.0f} MB"]
        if gpu:
            peak = r.get("device_peak_mb")
            cells.append("" if peak is None else f"{peak:.0f} MB")
        if report["baseline"]:
            cells.append(f"{r['speedup_vs_baseline']:.2f}×" if "speedup_vs_baseline" in r else "")
        cells += [f"{r['stages_median_ms'][s]:.2f} ms" if s in r["stages_median_ms"] else "" for s in stage_names]
        if live:
            e = r["live"]
            cells += [f"{e['fps']:.1f}", f"{e['latency_ms']['p50']:.0f} ms", f"{e['latency_ms']['p95']:.0f} ms",
                      f"{e['frames_dropped']}/{e['frames_captured']}"]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [w for r in rows for w in (f"{r['key']}: {x}" for x in r["warnings"])] + report["machine_warnings"]
    for r in rows:  # what trtexec reports beside the latency
        for graph, e in r.get("engines", {}).items():
            lines.append(f"{r['key']}: {graph} engine {e['engine_mb']:.1f} MB, built or loaded in {e['setup_s']:.1f} s, "
                         f"enqueue median {e['enqueue_median_ms']:.3f} ms, CUDA graph {'on' if e['cuda_graph'] else 'off'}")
    lines += ["", f"{report['system']['cpu']}, {report['system']['logical_cores']} cores; peak RSS "
              f"{report['peak_rss_mb']:.0f} MB (whole run)"]
    lines += [f"warning: {n}" for n in notes]
    return "\n".join(lines)


def plot(report: Dict, path: str) -> None:
    """A PNG: latency distributions per combination (left) and stacked per-stage medians (right)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BenchError("--plot needs matplotlib: pip install 'stylert[plot]'") from None
    rows = report["rows"]
    keys = [r["key"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 1.2 + 0.5 * len(rows)), sharey=True)
    try:
        left.boxplot([r["samples_ms"] for r in rows], orientation="horizontal", showfliers=True)
    except TypeError:  # matplotlib < 3.10
        left.boxplot([r["samples_ms"] for r in rows], vert=False, showfliers=True)
    left.set_yticks(range(1, len(rows) + 1), keys)
    left.set_xlabel("latency per call (ms)")
    left.set_title(f"stylert bench {report['model']}: latency distribution")
    stages = [s for s in STAGE_ORDER if any(s in r["stages_median_ms"] for r in rows)]
    start = np.zeros(len(rows))
    for s in stages:
        widths = np.array([r["stages_median_ms"].get(s, 0.0) for r in rows])
        right.barh(range(1, len(rows) + 1), widths, left=start, label=s)
        start += widths
    right.set_xlabel("median per stage (ms)")
    if stages:
        right.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    right.set_title("where the time goes")
    fig.tight_layout()
    tmp = f"{path}.tmp.png"
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    except OSError as e:
        raise BenchError(f"cannot write {path}: {e.strerror}") from None
    finally:
        plt.close(fig)


def compare(old: Dict, new: Dict) -> str:
    """Median latency of the combinations both reports have, and the change."""
    before = {r["key"]: r for r in old["rows"]}
    lines = ["| combination | old median | new median | change |", "|---|---:|---:|---:|"]
    shared = [r for r in new["rows"] if r["key"] in before]
    if not shared:
        raise BenchError("the two reports have no combination in common (model, backend, precision, size, batch)")
    for r in shared:
        o = before[r["key"]]["median_ms"]
        change = r["median_ms"] / o - 1
        word = "same" if abs(change) < 0.005 else f"{abs(change):.0%} " + ("faster" if change < 0 else "slower")
        lines.append(f"| {r['key']} | {o:.2f} ms | {r['median_ms']:.2f} ms | {word} |")
    if old["system"].get("cpu") != new["system"].get("cpu"):
        lines.append(f"\nwarning: different machines ({old['system'].get('cpu')} vs {new['system'].get('cpu')})")
    return "\n".join(lines)


def load_report(path: str) -> Dict:
    try:
        with open(path) as f:
            report = json.load(f)
    except (OSError, ValueError, RecursionError) as e:
        raise BenchError(f"cannot read {path}: {str(e)[:100]}") from None
    rows = report.get("rows") if isinstance(report, dict) else None
    if not isinstance(rows, list) or not isinstance(report.get("system"), dict):
        raise BenchError(f"{path} is not a `stylert bench --json` report")
    for r in rows:  # what compare reads of each row
        median = r.get("median_ms") if isinstance(r, dict) else None
        if not (isinstance(r, dict) and isinstance(r.get("key"), str) and isinstance(median, (int, float))
                and math.isfinite(median) and median > 0):
            raise BenchError(f"{path}: a row without a key and a positive median_ms: not a `stylert bench --json` "
                             f"report, or an edited one")
    return report

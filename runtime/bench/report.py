"""The bench's report: the markdown table, the JSON, the plot, and --compare of two JSON
reports (load_report validates one)."""

from __future__ import annotations

import io
import json
import logging
import math
from typing import Dict, Iterable, List, Sequence

import numpy as np

from ..errors import BenchError
from ..folders import write_report
from ..timing import NOISY_CV

def in_order(stages: Iterable[str], declared: Sequence[str]) -> List[str]:
    """``stages`` in a pipeline's declared order (its ``stages_order``), then any stage it does
    not declare, in the order seen: appended, never dropped."""
    seen = list(dict.fromkeys(stages))
    return [s for s in declared if s in seen] + [s for s in seen if s not in declared]


def stage_columns(rows: List[Dict]) -> List[str]:
    """Every stage of any row, once, in the rows' own order (the harness writes each row's
    stages in its pipeline's order): a stage only some rows have (host->device on a GPU
    backend) goes after the stage it follows there."""
    names: List[str] = []
    for r in rows:
        at = 0
        for s in r["stages_median_ms"]:
            if s in names:
                at = names.index(s) + 1
            else:
                names.insert(at, s)
                at += 1
    return names



def markdown(report: Dict) -> str:
    rows = report["rows"]
    stage_names = stage_columns(rows)
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


def to_json(report: Dict) -> str:
    """The report as `--json` writes it (what load_report and --compare read back)."""
    return json.dumps(report, indent=1) + "\n"


def pyplot():
    """matplotlib.pyplot (Agg), or a BenchError saying how to install it: `stylert bench --plot`
    asks for it before the run, so a missing matplotlib is said before minutes of measuring."""
    log = logging.getLogger("matplotlib")
    level = log.level
    log.setLevel(logging.ERROR)  # a config folder it cannot write (HOME read-only): its two lines, and it uses /tmp
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BenchError("--plot needs matplotlib: pip install 'stylert[plot]'") from None
    finally:
        log.setLevel(level)
    return plt


def plot(report: Dict, path: str) -> None:
    """A PNG: latency distributions per combination (left) and stacked per-stage medians (right)."""
    plt = pyplot()
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
    stages = stage_columns(rows)
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
    png = io.BytesIO()
    try:
        fig.savefig(png, format="png", dpi=110)
    finally:
        plt.close(fig)
    write_report(path, png.getvalue())  # atomic; a device (/dev/null) written through, never replaced


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

"""Latency measurement: interleaved runs and trtexec-style summaries.

Candidates run in turns (A, B, C, A, B, C, ...) so that a noisy machine shifts them all
alike; every call is timed with perf_counter_ns after a warm-up.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

# Above this coefficient of variation a run is flagged as noisy (trtexec warns at ~2.5%,
# a shared 2-core CPU rarely gets that low, so the threshold here is looser).
NOISY_CV = 0.10


def summarize(samples_ns: List[int]) -> Dict[str, float]:
    """Latency statistics in milliseconds."""
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    mean = float(ms.mean())
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    p = np.percentile(ms, [50, 90, 95, 99])
    return {
        "n": int(ms.size),
        "min_ms": float(ms.min()),
        "mean_ms": mean,
        "median_ms": float(p[0]),
        "p90_ms": float(p[1]),
        "p95_ms": float(p[2]),
        "p99_ms": float(p[3]),
        "max_ms": float(ms.max()),
        "std_ms": std,
        "cv": std / mean if mean > 0 else 0.0,
    }


class Stages:
    """Per-stage times of a pipeline call (pre-process, encoder, AdaIN, ...), recorded only
    while ``enabled`` (the pipelines call ``with self.stages("name"):`` around each).
    With ``event`` (a CUDA event factory, e.g. torch.cuda.Event with timing) stages are
    timed on the GPU's stream, where asynchronous work really runs, instead of by the
    host's clock; ``collect`` waits for those events."""

    def __init__(self, event: Callable[[], object] | None = None):
        self.enabled = False
        self.samples: Dict[str, List[int]] = defaultdict(list)
        self.event = event
        self._pending: List[tuple] = []

    @contextlib.contextmanager
    def __call__(self, name: str):
        if not self.enabled:
            yield
            return
        if self.event is not None:
            start = self.event()
            start.record()
            try:
                yield
            finally:
                end = self.event()
                end.record()
                self._pending.append((name, start, end))
            return
        t0 = time.perf_counter_ns()
        try:
            yield
        finally:
            self.samples[name].append(time.perf_counter_ns() - t0)

    def collect(self) -> Dict[str, List[int]]:
        """The samples in nanoseconds per stage, GPU events resolved."""
        for name, start, end in self._pending:
            end.synchronize()
            self.samples[name].append(int(start.elapsed_time(end) * 1e6))  # elapsed_time: ms
        self._pending.clear()
        return self.samples


def interleaved(
    candidates: Dict[str, Callable[[], object]],
    *,
    warmup: int = 3,
    min_iterations: int = 20,
    min_seconds: float = 1.0,
    max_iterations: int = 10_000,
    gap_s: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> Dict[str, List[int]]:
    """Times every candidate in turns until each ran `min_iterations` times and at least
    `min_seconds` passed; returns the per-call times in nanoseconds. ``gap_s`` pauses
    (untimed) between calls: ONNX Runtime's worker threads spin for a while after a run
    and would otherwise slow down whichever candidate runs next."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    samples: Dict[str, List[int]] = {name: [] for name in candidates}
    start = time.perf_counter()
    rounds = 0
    while rounds < max_iterations and (
        rounds < min_iterations or time.perf_counter() - start < min_seconds
    ):
        for name, fn in candidates.items():
            if gap_s:
                time.sleep(gap_s)
            t0 = time.perf_counter_ns()
            fn()
            samples[name].append(time.perf_counter_ns() - t0)
        rounds += 1
        if progress is not None:
            progress(rounds)
    return samples


def save_results(folder: Path, name: str, table: str, rows: List[Dict], **extra) -> Path:
    """Writes FOLDER/NAME-MACHINE.json (system description, rows, extras) and .md (the
    table); returns the path without suffix."""
    from .sysinfo import describe, machine_slug

    info = describe()
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"{name}-{machine_slug(info)}"
    stem.with_suffix(".json").write_text(json.dumps({"system": info, **extra, "results": rows}, indent=1) + "\n")
    stem.with_suffix(".md").write_text(table.rstrip("\n") + "\n")
    print(f"wrote {stem}.json and {stem}.md")
    return stem

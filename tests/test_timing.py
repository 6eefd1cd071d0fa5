"""The benchmark statistics on known samples, the interleaving order, and the stage timers
(host clock, and GPU events through a stand-in for torch.cuda.Event)."""

import time

import numpy as np
import pytest

from stylert.timing import Stages, interleaved, summarize


def test_summarize_known_samples():
    ns = [i * 1_000_000 for i in range(1, 101)]  # 1..100 ms
    s = summarize(ns)
    assert s["n"] == 100 and s["min_ms"] == 1 and s["max_ms"] == 100
    assert s["median_ms"] == pytest.approx(50.5) and s["mean_ms"] == pytest.approx(50.5)
    assert s["p90_ms"] == pytest.approx(90.1) and s["p95_ms"] == pytest.approx(95.05)
    assert s["p99_ms"] == pytest.approx(99.01)
    assert s["std_ms"] == pytest.approx(np.std(np.arange(1, 101), ddof=1))
    assert s["cv"] == pytest.approx(s["std_ms"] / 50.5)
    one = summarize([5_000_000])
    assert one["std_ms"] == 0 and one["cv"] == 0 and one["p99_ms"] == 5


def test_interleaved_runs_in_turns_after_warmup():
    order = []
    cands = {name: (lambda n=name: order.append(n)) for name in "ABC"}
    rounds = []
    samples = interleaved(cands, warmup=2, min_iterations=4, min_seconds=0, progress=rounds.append)
    assert order[:6] == list("AABBCC")  # warm-up, untimed
    assert order[6:] == list("ABC") * 4  # then in turns
    assert {k: len(v) for k, v in samples.items()} == {"A": 4, "B": 4, "C": 4} and rounds == [1, 2, 3, 4]
    # min_seconds keeps going past min_iterations; max_iterations caps it
    samples = interleaved({"A": lambda: None}, warmup=0, min_iterations=1, min_seconds=0.05)
    assert len(samples["A"]) > 1
    assert len(interleaved({"A": lambda: None}, warmup=0, min_iterations=1, min_seconds=10,
                           max_iterations=3)["A"]) == 3


def test_interleaved_gap_is_not_timed():
    t0 = time.perf_counter()
    samples = interleaved({"A": lambda: None}, warmup=0, min_iterations=3, min_seconds=0, gap_s=0.02)
    assert time.perf_counter() - t0 >= 0.06 and max(samples["A"]) < 10_000_000


class FakeEvent:
    """torch.cuda.Event's timing interface, on the host clock."""

    def record(self):
        self.t = time.perf_counter()

    def synchronize(self):
        pass

    def elapsed_time(self, end):
        return (end.t - self.t) * 1e3  # ms


def test_stages_host_clock_and_gpu_events():
    for stages in (Stages(), Stages(FakeEvent)):
        with stages("off"):
            pass
        stages.enabled = True
        for _ in range(3):
            with stages("encoder"):
                time.sleep(0.01)
        samples = stages.collect()
        assert set(samples) == {"encoder"} and len(samples["encoder"]) == 3
        assert all(8_000_000 < t < 200_000_000 for t in samples["encoder"])
        assert stages.collect() is samples and len(samples["encoder"]) == 3  # events resolved once


def test_peak_memory_is_the_process_own_not_what_it_was_before_exec():
    # Before: getrusage's ru_maxrss, which Linux keeps across exec: `stylert live` started from
    # a large process (pytest, a notebook) reported that process's peak as its own.
    import subprocess
    import sys

    child = "from stylert.sysinfo import peak_rss_mb; print(peak_rss_mb())"
    code = ("import os, sys\nb = bytearray(300 << 20)\nb[::4096] = b'x' * len(b[::4096])\n"
            f"os.execv(sys.executable, [sys.executable, '-c', {child!r}])")
    peak = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert 5 < peak < 200  # the interpreter's own, not the 300 MB before exec

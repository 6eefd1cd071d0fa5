"""The ``none`` output (also ``null://``): every frame taken, none kept. For headless runs
and benchmarks: the run's latency is then measured to the hand-over."""

from __future__ import annotations

from .base import Sink

SCHEME = "null"
EXAMPLE = "none"


def check(uri: str) -> None:
    pass


def open(uri: str, fps: float = 30.0, title: str = "") -> Sink:
    return Sink()

"""One limit for every count a user or a file can ask for, so a typo (a batch of 100000, a
billion iterations, ten thousand seed ranges) is one clear line at once instead of an
allocation of tens of GB or hours of work. Image sizes have their own limit in one place
too: stylert.images.MAX_PIXELS (STYLERT_MAX_PIXELS)."""

from __future__ import annotations

import argparse

from .errors import UsageError
from .images import MAX_PIXELS

LIMITS = {
    "batch": 64,            # frames or images per call
    "iterations": 100_000,  # timed calls per bench combination
    "warmup": 10_000,
    "seeds": 100_000,       # images one generate run makes
    "frames": 1_000_000,    # video frames
    "grid": 256,            # a latent grid's side (256^2 images)
    "train-batch": 4096,    # training examples per step
    "train-size": 2048,     # training crop or output side
    "units": 65536,         # a layer's width: hidden units, channels, style dimensions
    "depth": 64,            # layers of a mapping network
    "steps": 1_000_000,     # training steps of one run (the recipes' defaults are a few thousand)
}


def at_most(value: int, name: str, what: str) -> int:
    """``value`` when it is within LIMITS[name], else a UsageError naming it."""
    if value > LIMITS[name]:
        raise UsageError(f"{what} {value} is above the limit of {LIMITS[name]}: ask for fewer")
    return value


def count(name: str):
    """An argparse type: a whole number in 1..LIMITS[name]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if not 1 <= value <= LIMITS[name]:
            raise argparse.ArgumentTypeError(f"expected a whole number in 1..{LIMITS[name]}, got {text!r}")
        return value
    return parse


def counts(name: str):
    """An argparse type: comma-separated whole numbers, each in 1..LIMITS[name]."""
    one = count(name)
    return lambda text: [one(v) for v in text.split(",")]


def pixels(width: int, height: int, what: str, batch: int = 1) -> None:
    """Refuses frames (times a batch) above the pixel limit before anything is allocated."""
    if width * height * batch > MAX_PIXELS:
        raise UsageError(f"{what} is {batch} x {width}x{height} pixels, above the limit of {MAX_PIXELS}: use "
                         f"a smaller size or batch (or raise STYLERT_MAX_PIXELS)")

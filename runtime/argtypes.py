"""argparse types shared by the apps and the training recipes (stylert.export.train), kept in the
torch-free core so neither imports the other; argparse turns their errors into a usage line and
exit 2. Counts with a limit are stylert.limits' ``count`` and ``counts``."""

from __future__ import annotations

import argparse
import math
from typing import List


def names(choices):
    """A comma-separated list of ``choices``."""
    def parse(text: str) -> List[str]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        bad = [v for v in values if v not in choices]
        if not values or bad:
            raise argparse.ArgumentTypeError(f"expected a list of {', '.join(choices)}, got {text!r}")
        return values
    return parse


def path(text: str) -> str:
    """A file or folder name, never empty: --out "$OUT" with OUT unset is no name, not the current
    folder or the default."""
    if not text:
        raise argparse.ArgumentTypeError("expected a file or folder name, got '' (is a variable unset?)")
    return text


def text(value: str) -> str:
    """Any text but the empty one (which would read as the default)."""
    if not value:
        raise argparse.ArgumentTypeError("expected a value, got '' (is a variable unset?)")
    return value


def wxh(text: str):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w >= 16 and h >= 16:
            return w, h
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT (each >= 16), e.g. 320x240, got {text!r}")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def nonneg(text: str) -> float:
    value = _number(text)
    if not (value >= 0.0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def positive(text: str) -> float:
    """A finite number > 0 (a learning rate, a frame rate)."""
    value = _number(text)
    if not (value > 0.0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def frame_rate(text: str) -> float:
    """A video's frame rate: a number in (0, 1000] (OpenCV's writers refuse far above, with
    their own log lines first)."""
    value = _number(text)
    if not (0.0 < value <= 1000.0):
        raise argparse.ArgumentTypeError(f"expected a frame rate in (0, 1000] FPS, got {text!r}")
    return value


def seed(text: str) -> int:
    """A random seed: a whole number in [0, 2**32), what numpy's generators take."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError(f"expected a whole number in 0..{2 ** 32 - 1}, got {text!r}")
    return value


def alpha(text: str) -> float:
    value = _number(text)
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number in (0, 1]."""
    value = _number(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def floats(text: str) -> List[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_ints(text: str) -> List[int]:
    """'256,128' -> [256, 128]."""
    return [positive_int(v) for v in text.split(",")]

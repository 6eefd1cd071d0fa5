"""Temporal stabilisation: flicker really goes down where the scene stands still, and a
moving object leaves no ghost (a synthetic clip with a known static region)."""

import cv2
import numpy as np
import pytest

from stylert import Stylizer
from stylert.images import ASSETS
from stylert.pipelines.temporal import Stabilizer


def _clip(frames=16, size=(128, 96)):
    """(noisy frame, disc mask) pairs: a still photograph with sensor noise, a disc moving."""
    rng = np.random.default_rng(0)
    still = cv2.resize(cv2.imread(str(ASSETS / "astronaut.jpg")), size, interpolation=cv2.INTER_AREA)
    out = []
    for t in range(frames):
        clean, mask = still.copy(), np.zeros(size[::-1], np.uint8)
        cv2.circle(mask, (10 + 7 * t, 70), 12, 255, -1)
        clean[mask > 0] = (40, 200, 240)
        out.append((np.clip(clean + rng.normal(0, 3.0, clean.shape), 0, 255).astype(np.uint8), mask))
    return out


@pytest.fixture(scope="module")
def runs():
    st = Stylizer(precision="int8")
    st.set_style(str(ASSETS / "coffee.jpg"))
    clip = _clip()
    plain = [st.frame(f, (128, 96)) for f, _ in clip]
    stab = Stabilizer(0.8)
    steady = [st.frame(f, (128, 96), stabilizer=stab) for f, _ in clip]
    return clip, plain, steady


def test_static_flicker_goes_down_by_more_than_half(runs):
    clip, plain, steady = runs
    def flicker(outs):
        diffs = []
        for t in range(1, len(outs)):
            moving = cv2.dilate(clip[t][1] | clip[t - 1][1], np.ones((9, 9), np.uint8)) > 0
            diffs.append(np.abs(outs[t].astype(float) - outs[t - 1].astype(float)).mean(axis=2)[~moving].mean())
        return float(np.mean(diffs))
    assert flicker(steady) < 0.5 * flicker(plain)


def test_a_moving_object_leaves_no_ghost(runs):
    clip, plain, steady = runs
    for t in range(1, len(clip)):
        swept = (clip[t][1] ^ clip[t - 1][1]) > 0  # what the disc just covered or uncovered
        assert np.abs(steady[t].astype(float) - plain[t].astype(float)).mean(axis=2)[swept].mean() < 2.0


def test_strength_zero_is_off_and_bad_strengths_are_refused():
    f = np.zeros((8, 8, 3), np.uint8)
    stab = Stabilizer(0.0)
    assert stab(f, f + 9) is not None and (stab(f, f + 40) == 40).all()
    with pytest.raises(ValueError, match="strength"):
        Stabilizer(1.0)

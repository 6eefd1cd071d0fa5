"""The kernels' float16 conversions against numpy, exhaustively for half -> float."""

import numpy as np

from stylert import _adain


def test_every_half_value_converts_exactly():
    bits = np.arange(65536, dtype=np.uint16)
    got = _adain._f16_bits_to_f32(bits)
    want = bits.view(np.float16).astype(np.float32)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    assert np.array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))  # signed zeros too


def test_float_to_half_rounds_like_numpy():
    rng = np.random.default_rng(0)
    with np.errstate(over="ignore", invalid="ignore"):
        samples = _samples(rng)
    for x in samples:
        x = x[~np.isnan(x)]
        got = _adain._f32_to_f16_bits(x)
        with np.errstate(over="ignore"):
            want = x.astype(np.float16).view(np.uint16)
        assert np.array_equal(got, want), x[got != want][:5]
    nan = _adain._f32_to_f16_bits(np.array([np.nan], np.float32)).view(np.float16)
    assert np.isnan(nan).all()


def _samples(rng):
    halves = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float64)
    return [
        (rng.standard_normal(200_000) * 10.0 ** rng.integers(-9, 6, 200_000)).astype(np.float32),
        # every half value, and the midpoints between neighbours (ties to even)
        halves.astype(np.float32),
        ((halves[:-1] + halves[1:]) / 2).astype(np.float32),
        np.array([65504, 65519.99, 65520, 65536, 1e30, np.inf, -np.inf, 2**-24, 2**-25,
                  2**-25 * 1.0001, 6.1e-5, -0.0, 0.0], np.float32),
    ]

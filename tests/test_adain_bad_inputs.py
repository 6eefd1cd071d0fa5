"""Bad input to the kernels: one clear Python exception each, never a crash."""

import numpy as np
import pytest

from stylert import _adain, adain

X = np.zeros((1, 4, 3, 3), np.float32)
M, S = np.zeros(4, np.float32), np.ones(4, np.float32)


@pytest.mark.parametrize(
    "content, error, words",
    [
        (X.astype(np.float64), TypeError, "float32 or float16"),
        (X.astype(np.int32), TypeError, "float32 or float16"),
        ([[1.0, 2.0]], TypeError, "numpy array"),
        (np.zeros((4, 3, 3), np.float32), ValueError, "4-D"),
        (np.zeros((1, 1, 1, 1, 4), np.float32), ValueError, "4-D"),
        (np.zeros((1, 4, 0, 3), np.float32), ValueError, "empty"),
        (np.zeros((0, 4, 3, 3), np.float32), ValueError, "empty"),
    ],
)
def test_bad_content(content, error, words):
    with pytest.raises(error, match=words):
        adain.adain(content, M, S)
    with pytest.raises(error, match=words):
        adain.channel_stats(content)


@pytest.mark.parametrize(
    "mean, std, words",
    [
        (np.zeros(3, np.float32), S, "style_mean has shape"),
        (M, np.ones((4, 2), np.float32), "style_std has shape"),
        (np.zeros((2, 4), np.float32), S, "style_mean has shape"),
        (M, -S, "negative"),
    ],
)
def test_bad_style_statistics(mean, std, words):
    with pytest.raises(ValueError, match=words):
        adain.adain(X, mean, std)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_alpha_out_of_range(alpha):
    with pytest.raises(ValueError, match="alpha must be in"):
        adain.adain(X, M, S, alpha=alpha)


def test_alpha_not_a_number():
    with pytest.raises(TypeError, match="alpha must be a number"):
        adain.adain(X, M, S, alpha="high")


@pytest.mark.parametrize("eps", [-1e-5, float("nan")])
def test_bad_eps(eps):
    with pytest.raises(ValueError, match="eps must be in"):
        adain.adain(X, M, S, eps=eps)


def test_bad_out():
    with pytest.raises(ValueError, match="shape"):
        adain.adain(X, M, S, out=np.empty((1, 4, 3, 4), np.float32))
    with pytest.raises(ValueError, match="dtype"):
        adain.adain(X, M, S, out=np.empty((1, 4, 3, 3), np.float16))
    with pytest.raises(ValueError, match="C-contiguous"):
        adain.adain(X, M, S, out=np.empty((1, 4, 3, 6), np.float32)[..., ::2])
    ro = np.empty_like(X)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        adain.adain(X, M, S, out=ro)
    with pytest.raises(TypeError, match="numpy array"):
        adain.adain(X, M, S, out=[0.0])


def test_partially_overlapping_out():
    buf = np.zeros((2, 4, 3, 3), np.float32)
    content = buf.reshape(-1)[:36].reshape(1, 4, 3, 3)
    out = buf.reshape(-1)[9:45].reshape(1, 4, 3, 3)
    with pytest.raises(ValueError, match="overlaps"):
        adain.adain(content, M, S, out=out)


@pytest.mark.parametrize(
    "mask, error, words",
    [
        (np.ones((4, 4), np.float32), ValueError, "resize the mask"),
        (np.ones((2, 3, 3), np.float32), ValueError, "resize the mask"),
        (np.full((3, 3), 1.5, np.float32), ValueError, r"\[0, 1\]"),
        (np.full((3, 3), np.nan, np.float32), ValueError, r"\[0, 1\]"),
        (np.ones((3, 3), np.int64), TypeError, "bool, uint8"),
        ([[1, 0, 1]], TypeError, "numpy array"),
    ],
)
def test_bad_masks(mask, error, words):
    with pytest.raises(error, match=words):
        adain.adain_masked(X, mask, M, S, M, S)


def test_mix_stats_bad_weights():
    with pytest.raises(ValueError, match="as many"):
        adain.mix_stats([M], [S, S], [1.0])
    with pytest.raises(ValueError, match="not all be 0"):
        adain.mix_stats([M, M], [S, S], [0, 0])
    with pytest.raises(ValueError, match="weight must be in"):
        adain.mix_stats([M, M], [S, S], [1, -1])
    with pytest.raises(ValueError, match="same shape"):
        adain.mix_stats([M, M[:2]], [S, S[:2]], [1, 1])
    with pytest.raises(ValueError, match="finite"):  # before: NaN statistics
        adain.mix_stats([M, M], [S, S], [1, float("inf")])


def test_mix_stats_huge_finite_weights_mean_what_small_ones_do():
    # Before: 1e308 + 1e308 overflowed to inf and the mix came out 0 (another picture than 1, 1).
    other = (M * 2 + 1, S * 3)
    want = adain.mix_stats([M, other[0]], [S, other[1]], [1, 1])
    got = adain.mix_stats([M, other[0]], [S, other[1]], [1e308, 1e308])
    assert np.allclose(got[0], want[0]) and np.allclose(got[1], want[1])


def test_set_num_threads_rejects_negative_and_absurd_counts():
    with pytest.raises(ValueError):
        adain.set_num_threads(-1)
    with pytest.raises(ValueError, match="number of threads must be in 0.."):  # before: accepted, then a crash
        adain.set_num_threads(100000)
    before = adain.get_num_threads()
    adain.set_num_threads(adain.max_threads())
    adain.set_num_threads(before)


def test_low_level_module_checks_sizes():
    # Direct calls into the extension must fail cleanly, never touch memory out of bounds.
    x = np.zeros((4, 9), np.float32)
    with pytest.raises(ValueError):
        _adain.adain(x, np.zeros((4, 8), np.float32), M, S, 1.0, True, 1e-5)
    with pytest.raises(ValueError):
        _adain.adain(x, np.zeros_like(x), M[:3], S[:3], 1.0, True, 1e-5)
    with pytest.raises(ValueError):
        _adain.adain(x, np.zeros_like(x), M.astype(np.float64), S, 1.0, True, 1e-5)
    with pytest.raises(ValueError):
        _adain.adain_masked(x, np.zeros_like(x), np.ones((3, 9), np.float32), M, S, M, S, 1.0, True, 1e-5)
    with pytest.raises(TypeError):
        _adain.channel_stats(x.astype(np.float64), True, 1e-5)
    with pytest.raises(ValueError):
        _adain.channel_stats(np.zeros((4, 9, 1), np.float32), True, 1e-5)


def test_cuda_entry_points_fail_cleanly_without_a_device():
    if adain.cuda_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError, match="CUDA"):
        _adain.cuda_adain(0, 0, 0, 4, 9, 0, 0, 4, 1.0, True, 1e-5, 0)
    with pytest.raises(RuntimeError, match="CUDA"):
        _adain.cuda_channel_stats(0, 0, 4, 9, True, 1e-5, 0, 0, 0)

"""The fused AdaIN kernels against a float64 numpy reference (and PyTorch's formula)."""

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference as ref
from stylert import adain

DTYPES = [np.float32, np.float16]


def tol(dtype, ref_out):
    """Absolute tolerance: a few float32 (or float16) ulps of the output's magnitude."""
    rel = 2e-5 if dtype == np.float32 else 2e-3
    return rel * (np.abs(ref_out).max() + 1.0)


def features(seed, shape, dtype, offset=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale + offset).astype(dtype)


def style_stats(seed, n):
    rng = np.random.default_rng(seed + 1)
    return (rng.standard_normal(n) * 2).astype(np.float32), (rng.random(n) * 3 + 0.01).astype(
        np.float32
    )


shapes = st.tuples(
    st.integers(1, 3), st.integers(1, 40), st.integers(1, 12), st.integers(1, 12)
)
params = dict(
    seed=st.integers(0, 2**31),
    shape=shapes,
    dtype=st.sampled_from(DTYPES),
    unbiased=st.booleans(),
    eps=st.sampled_from([1e-5, 0.0, 1e-3]),
    offset=st.sampled_from([0.0, 3.0, -50.0]),
    scale=st.sampled_from([1.0, 1e-2, 20.0]),
)


@settings(max_examples=60, deadline=None)
@given(**params)
def test_channel_stats_matches_reference(seed, shape, dtype, unbiased, eps, offset, scale):
    x = features(seed, shape, dtype, offset, scale)
    mean, std = adain.channel_stats(x, unbiased=unbiased, eps=eps)
    assert mean.shape == std.shape == shape[:2] and mean.dtype == np.float32
    r_mean, r_std = ref.stats(x.reshape(shape[0] * shape[1], -1), unbiased, eps)
    np.testing.assert_allclose(mean.ravel(), r_mean, rtol=1e-6, atol=1e-6 * (abs(offset) + scale))
    np.testing.assert_allclose(std.ravel(), r_std, rtol=1e-5, atol=1e-7)


@settings(max_examples=80, deadline=None)
@given(alpha=st.floats(0.0, 1.0), per_sample=st.booleans(), **params)
def test_adain_matches_reference(seed, shape, dtype, unbiased, eps, offset, scale, alpha, per_sample):
    n, c = shape[:2]
    x = features(seed, shape, dtype, offset, scale)
    s_mean, s_std = style_stats(seed, n * c if per_sample else c)
    sm, ss = (s_mean.reshape(n, c), s_std.reshape(n, c)) if per_sample else (s_mean, s_std)
    out = adain.adain(x, sm, ss, alpha=alpha, eps=eps, unbiased=unbiased)
    assert out.shape == x.shape and out.dtype == x.dtype
    rows = n * c
    expect = ref.adain(
        x.reshape(rows, -1), np.resize(s_mean, rows), np.resize(s_std, rows), alpha, unbiased, eps
    )
    np.testing.assert_allclose(out.reshape(rows, -1), expect, rtol=0, atol=tol(dtype, expect))


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_dimensional_input_is_one_sample(dtype):
    x = features(1, (7, 33), dtype)
    s_mean, s_std = style_stats(1, 7)
    out = adain.adain(x, s_mean, s_std, alpha=0.6)
    same = adain.adain(x.reshape(1, 7, 3, 11), s_mean, s_std, alpha=0.6)
    np.testing.assert_array_equal(out, same.reshape(7, 33))
    mean, std = adain.channel_stats(x)
    assert mean.shape == std.shape == (7,)


def test_large_mean_tiny_spread_keeps_precision():
    # A naive float32 one-pass variance loses every digit here (1e6 * eps32 >> 1e-4).
    x = features(3, (1, 8, 32, 32), np.float32, offset=1000.0, scale=0.01)
    mean, std = adain.channel_stats(x)
    r_mean, r_std = ref.stats(x.reshape(8, -1))
    np.testing.assert_allclose(std.ravel(), r_std, rtol=1e-5)
    np.testing.assert_allclose(mean.ravel(), r_mean, rtol=1e-7)
    s_mean, s_std = style_stats(3, 8)
    out = adain.adain(x, s_mean, s_std)
    expect = ref.adain(x.reshape(8, -1), s_mean, s_std)
    np.testing.assert_allclose(out.reshape(8, -1), expect, atol=2e-4 * np.abs(expect).max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_in_place_equals_out_of_place(dtype):
    x = features(4, (2, 16, 9, 7), dtype, offset=2.0)
    s_mean, s_std = style_stats(4, 16)
    expect = adain.adain(x, s_mean, s_std, alpha=0.7)
    y = x.copy()
    result = adain.adain(y, s_mean, s_std, alpha=0.7, out=y)
    assert result is y
    np.testing.assert_array_equal(y, expect)


def test_out_buffer_is_reused():
    x = features(5, (1, 4, 5, 5), np.float32)
    buf = np.empty_like(x)
    assert adain.adain(x, *style_stats(5, 4), out=buf) is buf


def test_alpha_zero_is_identity_and_one_is_full_adain():
    x = features(6, (1, 8, 6, 6), np.float32, offset=1.0)
    s_mean, s_std = style_stats(6, 8)
    np.testing.assert_allclose(adain.adain(x, s_mean, s_std, alpha=0.0), x, atol=1e-6)
    mean, std = adain.channel_stats(adain.adain(x, s_mean, s_std, alpha=1.0), eps=0.0)
    np.testing.assert_allclose(mean.ravel(), s_mean, atol=1e-5)
    # std of the output with eps in the content std: s_std * sd / sqrt(sd^2 + eps)
    np.testing.assert_allclose(std.ravel(), s_std, rtol=1e-3)


def test_style_interpolation_equals_mixed_statistics():
    x = features(7, (2, 12, 8, 8), np.float32)
    styles = [style_stats(s, 12) for s in (10, 11, 12)]
    weights = [0.5, 0.3, 0.2]
    mixed = adain.adain(x, *adain.mix_stats([m for m, _ in styles], [s for _, s in styles], weights), alpha=0.8)
    blended = sum(w * adain.adain(x, m, s, alpha=0.8) for w, (m, s) in zip(weights, styles))
    np.testing.assert_allclose(mixed, blended, atol=1e-5)
    # Weights need not sum to 1: they are normalized.
    again = adain.mix_stats([m for m, _ in styles], [s for _, s in styles], [5, 3, 2])
    np.testing.assert_allclose(again[0], adain.mix_stats([m for m, _ in styles], [s for _, s in styles], weights)[0], atol=1e-6)


@pytest.mark.parametrize("eps", [1e-5, 0.0])
def test_zero_variance_channel_maps_to_style_mean(eps):
    x = np.full((1, 3, 4, 4), 5.0, np.float32)
    x[0, 2] = features(8, (4, 4), np.float32)
    s_mean, s_std = style_stats(8, 3)
    out = adain.adain(x, s_mean, s_std, eps=eps)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[0, :2], np.broadcast_to(s_mean[:2, None, None], (2, 4, 4)), atol=1e-6)
    mean, std = adain.channel_stats(x, eps=eps)
    np.testing.assert_allclose(std.ravel()[:2], np.sqrt(eps), rtol=1e-6)


def test_single_element_channels_have_zero_variance_not_nan():
    x = features(9, (2, 5, 1, 1), np.float32)
    mean, std = adain.channel_stats(x)
    np.testing.assert_allclose(std, np.sqrt(1e-5), rtol=1e-6)
    np.testing.assert_array_equal(mean, x[:, :, 0, 0])


def test_non_finite_values_propagate_per_channel():
    x = features(10, (1, 4, 6, 6), np.float32)
    x[0, 1, 2, 3] = np.nan
    x[0, 2, 0, 0] = np.inf
    mean, std = adain.channel_stats(x)
    assert np.isnan(mean[0, 1]) and np.isnan(std[0, 2])
    assert np.isfinite(mean[0, [0, 3]]).all() and np.isfinite(std[0, [0, 3]]).all()
    out = adain.adain(x, *style_stats(10, 4))
    assert np.isnan(out[0, 1]).all() and np.isnan(out[0, 2]).all()
    assert np.isfinite(out[0, [0, 3]]).all()


def test_large_channel_count():
    x = features(11, (1, 2048, 3, 5), np.float32)
    s_mean, s_std = style_stats(11, 2048)
    out = adain.adain(x, s_mean, s_std)
    expect = ref.adain(x.reshape(2048, -1), s_mean, s_std)
    np.testing.assert_allclose(out.reshape(2048, -1), expect, atol=tol(np.float32, expect))


def test_non_contiguous_input_is_copied():
    base = features(12, (1, 6, 10, 10), np.float32)
    view = base[:, :, ::2, 1::2]
    s_mean, s_std = style_stats(12, 6)
    np.testing.assert_array_equal(
        adain.adain(view, s_mean, s_std), adain.adain(np.ascontiguousarray(view), s_mean, s_std)
    )
    big_endian = base.astype(">f4")
    np.testing.assert_array_equal(adain.adain(big_endian, s_mean, s_std), adain.adain(base, s_mean, s_std))


@pytest.mark.parametrize(
    "shape", [(16,), (1, 16), (1, 16, 1, 1), (3, 16), (3, 16, 1, 1)]
)
def test_style_statistics_shapes(shape):
    x = features(13, (3, 16, 4, 4), np.float32)
    n = int(np.prod(shape))
    s_mean, s_std = style_stats(13, n)
    out = adain.adain(x, s_mean.reshape(shape), s_std.reshape(shape))
    expect = ref.adain(x.reshape(48, -1), np.resize(s_mean, 48), np.resize(s_std, 48))
    np.testing.assert_allclose(out.reshape(48, -1), expect, atol=tol(np.float32, expect))


@pytest.mark.parametrize("threads", [1, 2])
def test_thread_count_does_not_change_results(threads):
    x = features(14, (1, 64, 32, 32), np.float32)  # big enough to run in parallel
    s_mean, s_std = style_stats(14, 64)
    before = adain.get_num_threads()
    try:
        adain.set_num_threads(threads)
        assert adain.get_num_threads() == threads
        out = adain.adain(x, s_mean, s_std)
    finally:
        adain.set_num_threads(0)
    assert adain.get_num_threads() == before
    np.testing.assert_array_equal(out, adain.adain(x, s_mean, s_std))


def test_concurrent_calls_from_python_threads():
    # The kernels release the GIL; calls from several threads must not interfere.
    inputs = [features(20 + i, (1, 32, 24, 24), np.float32) for i in range(4)]
    s_mean, s_std = style_stats(20, 32)
    expect = [adain.adain(x, s_mean, s_std) for x in inputs]
    results = [None] * 4

    def work(i):
        for _ in range(10):
            results[i] = adain.adain(inputs[i], s_mean, s_std)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expect):
        np.testing.assert_array_equal(got, want)


# ----------------------------------------------------------------------------- masks


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    shape=shapes,
    dtype=st.sampled_from(DTYPES),
    unbiased=st.booleans(),
    alpha=st.floats(0.0, 1.0),
    soft=st.booleans(),
    per_sample=st.booleans(),
)
def test_masked_adain_matches_reference(seed, shape, dtype, unbiased, alpha, soft, per_sample):
    n, c, h, w = shape
    rng = np.random.default_rng(seed)
    x = features(seed, shape, dtype, offset=1.0, scale=2.0)
    mshape = (n, 1, h, w) if per_sample else (h, w)
    mask = rng.random(mshape).astype(np.float32)
    if not soft:
        mask = (mask > 0.5).astype(np.float32)
    fg, bg = style_stats(seed, c), style_stats(seed + 7, c)
    out = adain.adain_masked(x, mask, *fg, *bg, alpha=alpha, unbiased=unbiased)
    rows = n * c
    m2d = np.broadcast_to(mask.reshape(n if per_sample else 1, 1, h * w), (n, c, h * w)).reshape(rows, -1)
    expect = ref.adain_masked(
        x.reshape(rows, -1), m2d, [np.resize(v, rows) for v in fg], [np.resize(v, rows) for v in bg],
        alpha, unbiased,
    )
    np.testing.assert_allclose(out.reshape(rows, -1), expect, rtol=0, atol=tol(dtype, expect))


def test_binary_mask_normalizes_each_region_by_its_own_statistics():
    x = features(30, (1, 4, 8, 8), np.float32, offset=2.0)
    x[:, :, :, 4:] += 10.0  # the two regions have very different statistics
    mask = np.zeros((8, 8), bool)
    mask[:, :4] = True
    fg, bg = style_stats(30, 4), style_stats(31, 4)
    out = adain.adain_masked(x, mask, *fg, *bg)
    fg_part = adain.adain(np.ascontiguousarray(x[:, :, :, :4]), *fg)
    bg_part = adain.adain(np.ascontiguousarray(x[:, :, :, 4:]), *bg)
    np.testing.assert_allclose(out[:, :, :, :4], fg_part, atol=1e-5)
    np.testing.assert_allclose(out[:, :, :, 4:], bg_part, atol=1e-5)


def test_full_and_empty_masks_equal_plain_adain():
    x = features(32, (2, 6, 5, 5), np.float32)
    fg, bg = style_stats(32, 6), style_stats(33, 6)
    ones, zeros = np.ones((5, 5), np.float32), np.zeros((5, 5), np.float32)
    np.testing.assert_allclose(adain.adain_masked(x, ones, *fg, *bg, alpha=0.5), adain.adain(x, *fg, alpha=0.5), atol=1e-5)
    np.testing.assert_allclose(adain.adain_masked(x, zeros, *fg, *bg), adain.adain(x, *bg), atol=1e-5)


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.float64])
def test_mask_dtypes(dtype):
    x = features(34, (1, 3, 4, 4), np.float32)
    m = np.zeros((4, 4), np.float32)
    m[1:3] = 1.0
    mask = (m * 255).astype(np.uint8) if dtype == np.uint8 else m.astype(dtype)
    fg, bg = style_stats(34, 3), style_stats(35, 3)
    np.testing.assert_allclose(adain.adain_masked(x, mask, *fg, *bg), adain.adain_masked(x, m, *fg, *bg), atol=1e-6)


def test_masked_in_place_and_2d_content():
    x = features(36, (5, 20), np.float32)
    mask = (np.arange(20) % 3 == 0)
    fg, bg = style_stats(36, 5), style_stats(37, 5)
    expect = adain.adain_masked(x, mask, *fg, *bg)
    adain.adain_masked(x, mask, *fg, *bg, out=x)
    np.testing.assert_array_equal(x, expect)


# ---------------------------------------------------------------------- PyTorch formula


def test_matches_reference_pytorch_formula():
    torch = pytest.importorskip("torch")
    from stylert.export.ops import adain_from_stats, adaptive_instance_normalization, calc_mean_std

    rng = np.random.default_rng(40)
    for shape in [(1, 512, 32, 32), (2, 64, 7, 9), (1, 1, 3, 3)]:
        content = rng.standard_normal(shape).astype(np.float32) * 3 + 1
        style = rng.standard_normal(shape).astype(np.float32) * 0.5 - 2
        tc, ts = torch.from_numpy(content), torch.from_numpy(style)
        t_mean, t_std = calc_mean_std(ts)
        mean, std = adain.channel_stats(style)
        np.testing.assert_allclose(mean, t_mean.numpy().reshape(mean.shape), atol=1e-5)
        np.testing.assert_allclose(std, t_std.numpy().reshape(std.shape), rtol=1e-5)
        expect = adaptive_instance_normalization(tc, ts).numpy()
        np.testing.assert_allclose(adain.adain(content, mean, std), expect, atol=1e-4)
        blended = adain_from_stats(tc, t_mean, t_std, alpha=0.3).numpy()
        np.testing.assert_allclose(adain.adain(content, mean, std, alpha=0.3), blended, atol=1e-4)

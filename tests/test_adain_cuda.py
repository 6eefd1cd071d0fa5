"""CUDA kernels against the CPU kernels (run only where a CUDA device is present).

The CUDA kernels split a row over several blocks when N*C is small against the SM count
(csrc/adain_cuda.cu); STYLERT_CUDA_SPLIT=n forces n blocks per row (1: the one-block fused
kernel), so every case below runs both paths whatever GPU runs it.

Tolerances. The CPU kernel sums x - x[0] in double. The CUDA kernels sum each thread's share
in float (flushed into double every 64 float32 or 128 float16 terms) and combine threads and
blocks in double; the masked kernel sums in double like the CPU.
* mean: a float partial of m terms is off by at most ~m * 2^-24 of its sum of |d|, so the
  mean by at most ~4e-6 (float16: 8e-6) of the data's spread; rtol 1e-6 covers the rest.
* std: the same relative error on the sums of d^2, amplified by the cancellation
  sum(d^2) - sum(d)^2 / n by 1 + (mean - x[0])^2 / var (about 10 for a first element 3 sigma
  out); typical errors are far smaller (errors of partials are random, not aligned): rtol 2e-5.
* output: a few float32 ulps of the output's magnitude as in tests/test_adain_kernel.py,
  2e-5 x (max|out| + 1); float16 2e-3 x (...), since a float32 value one ulp away can round to
  the neighbouring half (2^-11 relative).
"""

import numpy as np
import pytest

from stylert import adain

pytestmark = pytest.mark.gpu

SPLITS = ["auto", "1", "5"]  # the device's choice, one block per row, five blocks per row


class Dev:
    """The device library the tests use: torch with CUDA, else CuPy."""

    def __init__(self):
        try:
            import torch

            if torch.cuda.is_available():
                self.name, self.torch = "torch", torch
                return
        except ImportError:
            pass
        self.name, self.torch = "cupy", None
        self.cupy = pytest.importorskip("cupy")

    def to_dev(self, a):
        if self.torch is not None:
            return self.torch.from_numpy(np.ascontiguousarray(a)).cuda()
        return self.cupy.asarray(a)

    def to_host(self, t):
        if self.torch is not None:
            return t.cpu().numpy()
        return self.cupy.asnumpy(t)

    def offset_copy(self, a, offset):
        """A contiguous device copy of `a` starting `offset` elements into its allocation,
        so its pointer is misaligned for 16-byte vectors when offset is not a multiple of 4
        (float32) or 8 (float16)."""
        if self.torch is not None:
            dt = getattr(self.torch, a.dtype.name)
            buf = self.torch.empty(a.size + offset, dtype=dt, device="cuda")
            view = buf[offset:].view(a.shape)
            view.copy_(self.to_dev(a))
        else:
            buf = self.cupy.empty(a.size + offset, dtype=a.dtype)
            view = buf[offset:].reshape(a.shape)
            view[...] = self.cupy.asarray(a)
        assert view.__cuda_array_interface__["data"][0] % 16 == (offset * a.itemsize) % 16
        return view

    def sync(self):
        if self.torch is not None:
            self.torch.cuda.synchronize()
        else:
            self.cupy.cuda.Device().synchronize()


@pytest.fixture
def dev():
    return Dev()


@pytest.fixture(params=SPLITS)
def split(request, monkeypatch):
    monkeypatch.setenv("STYLERT_CUDA_SPLIT", request.param)
    return request.param


def out_tol(dtype, want):
    rel = 2e-5 if dtype == np.float32 else 2e-3
    return rel * (np.abs(want).max() + 1.0)


def features(shape, dtype, seed=0, offset=100.0, scale=3.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale + offset).astype(dtype)


def check_stats(got, want, scale):
    m_gpu, s_gpu = got
    m_cpu, s_cpu = want
    np.testing.assert_allclose(m_gpu, m_cpu, rtol=1e-6, atol=8e-6 * scale)
    np.testing.assert_allclose(s_gpu, s_cpu, rtol=2e-5)


def check_out(got, want, dtype):
    want = want.astype(np.float32)
    np.testing.assert_allclose(got.astype(np.float32), want, rtol=0, atol=out_tol(dtype, want))


SHAPES = [
    (1, 128, 64, 64),  # the bundled model's channels: split on a large GPU
    (1, 4, 256, 256),  # small N*C, large H*W
    (2, 3, 5, 7),      # odd length, tiny
    (1, 3, 1, 4099),   # odd length: vectors plus a scalar tail
    (1, 1, 1, 1),
    (3, 40),           # 2-D (C, HW)
]


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_cuda_matches_cpu(dev, split, dtype, shape):
    x = features(shape, dtype)
    c = shape[1] if len(shape) == 4 else shape[0]
    rng = np.random.default_rng(1)
    s_mean = rng.standard_normal(c).astype(np.float32)
    s_std = rng.random(c).astype(np.float32) + 0.1
    dx = dev.to_dev(x)
    for unbiased in (True, False):
        got = [dev.to_host(v) for v in adain.channel_stats(dx, unbiased=unbiased)]
        check_stats(got, adain.channel_stats(x, unbiased=unbiased), 3.0)
        want = adain.adain(x, s_mean, s_std, alpha=0.7, unbiased=unbiased)
        got = dev.to_host(adain.adain(dx, s_mean, s_std, alpha=0.7, unbiased=unbiased))
        check_out(got, want, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("shape", [(1, 6, 33, 31), (2, 3, 64, 64)], ids=["odd", "even"])
def test_cuda_misaligned_views_and_in_place(dev, split, dtype, shape):
    """Content one element into its allocation: with a fresh (aligned) output the rows go
    element by element; in place, input and output share the misalignment and the rows are
    vectorised after a scalar head. Both must match the CPU and leave the rest alone."""
    x = features(shape, dtype, seed=2, offset=-5.0, scale=2.0)
    c = shape[1]
    s_mean, s_std = np.linspace(-1, 1, c, dtype=np.float32), np.linspace(0.5, 2, c, dtype=np.float32)
    want = adain.adain(x, s_mean, s_std, alpha=0.9)
    for offset in (1, 3):
        dx = dev.offset_copy(x, offset)
        check_stats([dev.to_host(v) for v in adain.channel_stats(dx)], adain.channel_stats(x), 2.0)
        check_out(dev.to_host(adain.adain(dx, s_mean, s_std, alpha=0.9)), want, dtype)
        assert adain.adain(dx, s_mean, s_std, alpha=0.9, out=dx) is dx
        check_out(dev.to_host(dx), want, dtype)
        # a misaligned output beside an aligned input
        dx, out = dev.to_dev(x), dev.offset_copy(np.zeros_like(x), offset)
        adain.adain(dx, s_mean, s_std, alpha=0.9, out=out)
        check_out(dev.to_host(out), want, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_cuda_per_sample_and_shared_style(dev, split, dtype):
    n, c = 3, 8
    x = features((n, c, 48, 40), dtype, seed=3, offset=1.0, scale=4.0)
    rng = np.random.default_rng(4)
    per_mean = rng.standard_normal((n, c)).astype(np.float32)
    per_std = (rng.random((n, c)) + 0.2).astype(np.float32)
    dx = dev.to_dev(x)
    for sm, ss in ((per_mean, per_std), (per_mean[0], per_std[0]),
                   (per_mean.reshape(n, c, 1, 1), per_std.reshape(n, c, 1, 1))):
        want = adain.adain(x, sm, ss, alpha=0.8)
        check_out(dev.to_host(adain.adain(dx, sm, ss, alpha=0.8)), want, dtype)
        # statistics already on the device
        got = adain.adain(dx, dev.to_dev(sm), dev.to_dev(ss), alpha=0.8)
        check_out(dev.to_host(got), want, dtype)
    # per-sample statistics really are per sample
    one = dev.to_host(adain.adain(dx, per_mean, per_std))
    shared = dev.to_host(adain.adain(dx, per_mean[0], per_std[0]))
    check_out(one[0], shared[0], dtype)
    assert np.abs(one[1:].astype(np.float32) - shared[1:].astype(np.float32)).max() > 0.1


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("per_sample_mask", [False, True])
def test_cuda_masked_matches_cpu(dev, split, dtype, per_sample_mask):
    n, c, h, w = 2, 5, 37, 64
    x = features((n, c, h, w), dtype, seed=5, offset=2.0, scale=1.5)
    rng = np.random.default_rng(6)
    mshape = (n, 1, h, w) if per_sample_mask else (h, w)
    u = rng.random(mshape)
    mask = np.where(u < 0.45, 0.0, np.where(u < 0.9, 1.0, rng.random(mshape))).astype(np.float32)
    fg = (rng.standard_normal(c).astype(np.float32), (rng.random(c) + 0.3).astype(np.float32))
    bg = (rng.standard_normal((n, c)).astype(np.float32), (rng.random((n, c)) + 0.3).astype(np.float32))
    for alpha, unbiased in ((1.0, True), (0.4, False)):
        want = adain.adain_masked(x, mask, *fg, *bg, alpha=alpha, unbiased=unbiased)
        for dmask in (dev.to_dev(mask), dev.offset_copy(mask, 1)):  # aligned and not
            got = adain.adain_masked(dev.to_dev(x), dmask, *fg, *bg, alpha=alpha, unbiased=unbiased)
            check_out(dev.to_host(got), want, dtype)
    # a binary mask gives exactly each region's own AdaIN (where the mask is 0 or 1)
    binary = (u > 0.5).astype(np.float32)
    got = dev.to_host(adain.adain_masked(dev.to_dev(x), dev.to_dev(binary), *fg, *bg))
    check_out(got, adain.adain_masked(x, binary, *fg, *bg), dtype)


def test_cuda_split_is_deterministic_and_agrees_with_one_block_per_row(dev, monkeypatch):
    x = features((1, 16, 128, 128), np.float32, seed=7, offset=0.5, scale=2.0)
    s_mean, s_std = np.zeros(16, np.float32), np.ones(16, np.float32)
    dx = dev.to_dev(x)
    results = {}
    for split in ("1", "7", "64"):
        monkeypatch.setenv("STYLERT_CUDA_SPLIT", split)
        a = dev.to_host(adain.adain(dx, s_mean, s_std))
        b = dev.to_host(adain.adain(dx, s_mean, s_std))
        np.testing.assert_array_equal(a, b)  # partials folded in a fixed order
        results[split] = a
    for split in ("7", "64"):
        check_out(results[split], results["1"], np.float32)


def test_cuda_split_setting_is_checked(dev, monkeypatch):
    monkeypatch.setenv("STYLERT_CUDA_SPLIT", "0")
    with pytest.raises(RuntimeError, match="STYLERT_CUDA_SPLIT"):
        adain.adain(dev.to_dev(np.ones((1, 2, 3, 3), np.float32)), np.zeros(2, np.float32),
                    np.ones(2, np.float32))


@pytest.mark.parametrize("split_value", ["1", "4"])
def test_cuda_side_stream_and_graph_capture(dev, monkeypatch, split_value):
    """The kernels (and the split path's stream-ordered scratch memory) run on the caller's
    stream, including inside a CUDA graph capture."""
    if dev.torch is None:
        pytest.skip("needs torch for streams and graphs")
    torch = dev.torch
    monkeypatch.setenv("STYLERT_CUDA_SPLIT", split_value)
    x = features((1, 32, 64, 64), np.float32, seed=8, offset=3.0, scale=1.0)
    s_mean, s_std = np.full(32, 0.5, np.float32), np.full(32, 2.0, np.float32)
    want = adain.adain(x, s_mean, s_std)
    dm, ds = dev.to_dev(s_mean), dev.to_dev(s_std)
    side = torch.cuda.Stream()
    dx = dev.to_dev(x)
    out = torch.empty_like(dx)
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        adain.adain(dx, dm, ds, out=out)
    side.synchronize()
    check_out(out.cpu().numpy(), want, np.float32)

    static_x, static_out = torch.zeros_like(dx), torch.empty_like(dx)
    adain.adain(static_x, dm, ds, out=static_out)  # warm-up outside the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        adain.adain(static_x, dm, ds, out=static_out)
    for seed in (9, 10):
        x = features((1, 32, 64, 64), np.float32, seed=seed, offset=-1.0, scale=2.0)
        static_x.copy_(torch.from_numpy(x))
        graph.replay()
        torch.cuda.synchronize()
        check_out(static_out.cpu().numpy(), adain.adain(x, s_mean, s_std), np.float32)


def test_cuda_in_place_device_stats_and_masks(dev):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 16, 12, 12)).astype(np.float32)
    style = rng.standard_normal((1, 16, 12, 12)).astype(np.float32) * 2 + 1
    mask = (rng.random((12, 12)) > 0.4).astype(np.float32)
    d_mean, d_std = adain.channel_stats(dev.to_dev(style))  # statistics stay on the device
    want = adain.adain(x, *adain.channel_stats(style))
    dx = dev.to_dev(x)
    assert adain.adain(dx, d_mean, d_std, out=dx) is dx
    np.testing.assert_allclose(dev.to_host(dx), want, atol=1e-4)
    fg, bg = adain.channel_stats(style), adain.channel_stats(style[:, ::-1].copy())
    want = adain.adain_masked(x, mask, *fg, *bg, alpha=0.5)
    got = dev.to_host(adain.adain_masked(dev.to_dev(x), dev.to_dev(mask), *fg, *bg, alpha=0.5))
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_cuda_rejects_non_contiguous(dev):
    x = dev.to_dev(np.zeros((1, 4, 6, 6), np.float32))[:, :, ::2]
    with pytest.raises(ValueError, match="non-contiguous"):
        adain.adain(x, np.zeros(4, np.float32), np.ones(4, np.float32))

"""CUDA kernels against the CPU kernels (run only where a CUDA device is present)."""

import numpy as np
import pytest

from stylert import adain

pytestmark = pytest.mark.gpu


def _device_lib():
    try:
        import torch

        if torch.cuda.is_available():
            return "torch", lambda a: torch.from_numpy(a).cuda(), lambda t: t.cpu().numpy()
    except ImportError:
        pass
    cupy = pytest.importorskip("cupy")
    return "cupy", cupy.asarray, cupy.asnumpy


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("shape", [(1, 512, 64, 64), (2, 3, 5, 7), (1, 1, 1, 1), (3, 40)])
def test_cuda_matches_cpu(dtype, shape):
    _, to_dev, to_host = _device_lib()
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 3 + 100).astype(dtype)
    c = shape[1] if len(shape) == 4 else shape[0]
    s_mean = rng.standard_normal(c).astype(np.float32)
    s_std = rng.random(c).astype(np.float32) + 0.1
    for unbiased in (True, False):
        m_cpu, s_cpu = adain.channel_stats(x, unbiased=unbiased)
        m_gpu, s_gpu = adain.channel_stats(to_dev(x), unbiased=unbiased)
        np.testing.assert_allclose(to_host(m_gpu), m_cpu, rtol=1e-6)
        np.testing.assert_allclose(to_host(s_gpu), s_cpu, rtol=1e-5)
        want = adain.adain(x, s_mean, s_std, alpha=0.7, unbiased=unbiased).astype(np.float32)
        got = to_host(adain.adain(to_dev(x), s_mean, s_std, alpha=0.7, unbiased=unbiased))
        atol = (2e-5 if dtype == np.float32 else 2e-3) * (np.abs(want).max() + 1)
        np.testing.assert_allclose(got.astype(np.float32), want, atol=atol)


def test_cuda_in_place_device_stats_and_masks():
    _, to_dev, to_host = _device_lib()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 16, 12, 12)).astype(np.float32)
    style = rng.standard_normal((1, 16, 12, 12)).astype(np.float32) * 2 + 1
    mask = (rng.random((12, 12)) > 0.4).astype(np.float32)
    d_mean, d_std = adain.channel_stats(to_dev(style))  # statistics stay on the device
    want = adain.adain(x, *adain.channel_stats(style))
    dx = to_dev(x)
    assert adain.adain(dx, d_mean, d_std, out=dx) is dx
    np.testing.assert_allclose(to_host(dx), want, atol=1e-4)
    fg, bg = adain.channel_stats(style), adain.channel_stats(style[:, ::-1].copy())
    want = adain.adain_masked(x, mask, *fg, *bg, alpha=0.5)
    got = to_host(adain.adain_masked(to_dev(x), to_dev(mask), *fg, *bg, alpha=0.5))
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_cuda_rejects_non_contiguous():
    _, to_dev, _ = _device_lib()
    x = to_dev(np.zeros((1, 4, 6, 6), np.float32))[:, :, ::2]
    with pytest.raises(ValueError, match="non-contiguous"):
        adain.adain(x, np.zeros(4, np.float32), np.ones(4, np.float32))

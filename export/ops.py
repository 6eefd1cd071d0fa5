"""AdaIN as the reference PyTorch implementation computes it (composite torch ops).

This is the formula the fused kernel (stylert.adain) is tested against, and the AdaIN
the torch models use when exported as plain ONNX ops.
"""

from __future__ import annotations

import torch
from torch import nn

DEFAULT_EPS = 1e-5


def calc_mean_std(feat: torch.Tensor, eps: float = DEFAULT_EPS, unbiased: bool = True):
    """Per (n, c) mean and std over H x W, shapes (N, C, 1, 1): std = sqrt(var + eps)."""
    if feat.dim() != 4:
        raise ValueError(f"calc_mean_std expects NCHW features, got shape {tuple(feat.shape)}")
    n, c = feat.shape[:2]
    flat = feat.reshape(n, c, -1)
    var = flat.var(dim=2, unbiased=unbiased) + eps
    return flat.mean(dim=2).view(n, c, 1, 1), var.sqrt().view(n, c, 1, 1)


def adain_from_stats(
    content: torch.Tensor,
    style_mean: torch.Tensor,
    style_std: torch.Tensor,
    alpha: float = 1.0,
    eps: float = DEFAULT_EPS,
) -> torch.Tensor:
    """alpha * AdaIN(content; style statistics) + (1 - alpha) * content."""
    c_mean, c_std = calc_mean_std(content, eps)
    t = (content - c_mean) / c_std * style_std + style_mean
    return alpha * t + (1.0 - alpha) * content


def adaptive_instance_normalization(
    content: torch.Tensor, style: torch.Tensor, eps: float = DEFAULT_EPS
) -> torch.Tensor:
    """AdaIN(content, style) of the paper (Huang & Belongie 2017, eq. 8)."""
    s_mean, s_std = calc_mean_std(style, eps)
    return adain_from_stats(content, s_mean, s_std, 1.0, eps)


class AdaIN(nn.Module):
    """adain_from_stats as a module, so an exported graph can name its nodes: the
    fp16 export keeps every node under this module in float32 (variance overflows fp16)."""

    def __init__(self, eps: float = DEFAULT_EPS):
        super().__init__()
        self.eps = eps

    def forward(self, content, style_mean, style_std, alpha: torch.Tensor | float = 1.0):
        return adain_from_stats(content, style_mean, style_std, alpha, self.eps)

"""StyleGAN v1 generator (Karras et al. 2019), laid out key for key like the widely used
PyTorch port (rosinality/style-based-gan-pytorch) so its checkpoints load as they are.

mapping:   z -> PixelNorm -> n_mlp x (equalized-LR linear, LeakyReLU 0.2) -> w
synthesis: learned constant 4x4 -> per resolution: [upsample (nearest + conv + blur, or a
           fused transposed conv + blur from `fused_from` on)], conv, noise, LeakyReLU,
           AdaIN(w), conv, noise, LeakyReLU, AdaIN(w) -> 1x1 to_rgb at the last block.

Equalized learning rate: weights are stored as ``weight_orig`` (N(0, 1) at init) and scaled
by sqrt(2 / fan_in) in forward; biases are not scaled. Both AdaINs of a block take the
block's w and both noise injections its noise map (as in that port).

Everything random stays outside ``forward`` so the graph traces: ``synthesis`` takes one
w per block (``ws``: N x blocks x style_dim) and one noise map per block (N x 1 x R x R);
truncation, style mixing and noise modes are helpers that build those inputs.
The output is linear (no tanh), nominally in [-1, 1].
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from stylert.errors import UsageError

from ..graphs import Call, Graph, as_numpy

# Channels per block of the 1024x1024 network (block i makes 4 * 2**i pixels).
FULL_CHANNELS = (512, 512, 512, 512, 256, 128, 64, 32, 16)


class _ScaledWeight(nn.Module):
    """A weight stored as ``weight_orig`` and used times sqrt(2 / fan_in)."""

    def __init__(self, shape: Sequence[int], bias: bool):
        super().__init__()
        self.weight_orig = nn.Parameter(torch.randn(*shape))
        self.bias = nn.Parameter(torch.zeros(shape[0])) if bias else None
        fan_in = shape[1] * math.prod(shape[2:])
        self.scale = math.sqrt(2.0 / fan_in)

    def weight(self) -> torch.Tensor:
        return self.weight_orig * self.scale


class _Conv(_ScaledWeight):
    def __init__(self, cin: int, cout: int, k: int, padding: int):
        super().__init__((cout, cin, k, k), bias=True)
        self.padding = padding

    def forward(self, x):
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding)


class _Linear(_ScaledWeight):
    def __init__(self, cin: int, cout: int):
        super().__init__((cout, cin), bias=True)

    def forward(self, x):
        return F.linear(x, self.weight(), self.bias)


class EqualConv2d(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, padding: int = 0):
        super().__init__()
        self.conv = _Conv(cin, cout, k, padding)

    def forward(self, x):
        return self.conv(x)


class EqualLinear(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.linear = _Linear(cin, cout)

    def forward(self, x):
        return self.linear(x)


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, like: torch.Tensor):
        return self.input.expand(like.shape[0], -1, -1, -1)


class NoiseInjection(nn.Module):
    """Adds a per-channel scaled noise map (stored as an equalized ``weight_orig``)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight_orig = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.scale = math.sqrt(2.0 / channels)

    def forward(self, x, noise):
        return x + self.weight_orig * self.scale * noise


class Blur(nn.Module):
    """Depthwise [1 2 1]^T [1 2 1] / 16 filter; the kernel is a saved buffer in that port."""

    def __init__(self, channels: int):
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        k = (k[:, None] * k[None, :]) / 16.0
        k = k.expand(channels, 1, 3, 3).clone()
        self.register_buffer("weight", k)
        self.register_buffer("weight_flip", k.flip([2, 3]).clone())

    def forward(self, x):
        return F.conv2d(x, self.weight, padding=1, groups=self.weight.shape[0])


class FusedUpsample(nn.Module):
    """x2 upsampling and 3x3 conv in one transposed conv (kernel smoothed to 4x4)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cin, cout, 3, 3))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = math.sqrt(2.0 / (cin * 9))

    def forward(self, x):
        w = F.pad(self.weight * self.scale, [1, 1, 1, 1])
        w = (w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]) / 4
        return F.conv_transpose2d(x, w, self.bias, stride=2, padding=1)


class AdaptiveInstanceNorm(nn.Module):
    """gamma(w) * InstanceNorm(x) + beta(w); gamma starts at 1 and beta at 0."""

    def __init__(self, channels: int, style_dim: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels)
        self.style = EqualLinear(style_dim, channels * 2)
        with torch.no_grad():
            self.style.linear.bias[:channels] = 1.0
            self.style.linear.bias[channels:] = 0.0

    def forward(self, x, w):
        gamma, beta = self.style(w)[:, :, None, None].chunk(2, dim=1)
        return gamma * self.norm(x) + beta


class StyledConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int, style_dim: int, initial: bool = False, fused: bool = False):
        super().__init__()
        if initial:
            self.conv1 = ConstantInput(cin)
        elif fused:
            self.conv1 = nn.Sequential(FusedUpsample(cin, cout), Blur(cout))
        else:
            self.conv1 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                       EqualConv2d(cin, cout, 3, padding=1), Blur(cout))
        self.noise1 = NoiseInjection(cout)
        self.adain1 = AdaptiveInstanceNorm(cout, style_dim)
        self.lrelu1 = nn.LeakyReLU(0.2)
        self.conv2 = EqualConv2d(cout, cout, 3, padding=1)
        self.noise2 = NoiseInjection(cout)
        self.adain2 = AdaptiveInstanceNorm(cout, style_dim)
        self.lrelu2 = nn.LeakyReLU(0.2)

    def forward(self, x, w, noise):
        x = self.adain1(self.lrelu1(self.noise1(self.conv1(x), noise)), w)
        return self.adain2(self.lrelu2(self.noise2(self.conv2(x), noise)), w)


class SynthesisNetwork(nn.Module):
    def __init__(self, channels: Sequence[int], style_dim: int, fused_from: int):
        super().__init__()
        self.progression = nn.ModuleList(
            StyledConvBlock(channels[max(i - 1, 0)], channels[i], style_dim, initial=(i == 0),
                            fused=(i >= fused_from))
            for i in range(len(channels))
        )
        # One to_rgb per block keeps the port's indices; only the last one is used here
        # (no progressive fade-in at inference).
        self.to_rgb = nn.ModuleList(EqualConv2d(c, 3, 1) for c in channels)

    def forward(self, ws: torch.Tensor, noises: Sequence[torch.Tensor]) -> torch.Tensor:
        x = ws  # ConstantInput only reads the batch size
        for i, block in enumerate(self.progression):
            x = block(x, ws[:, i], noises[i])
        return self.to_rgb[len(self.progression) - 1](x)


class StyleGAN(nn.Module):
    """The style-based generator at one resolution ``size`` (4 * 2**k)."""

    def __init__(self, size: int = 1024, channels: Optional[Sequence[int]] = None,
                 style_dim: int = 512, n_mlp: int = 8, fused_from: int = 5):
        super().__init__()
        blocks = int(math.log2(size)) - 1
        if size < 4 or 2 ** (blocks + 1) != size:
            raise UsageError(f"size must be a power of two >= 4, got {size}")
        channels = list(FULL_CHANNELS if channels is None else channels)[:blocks]
        if len(channels) != blocks:
            raise UsageError(f"size {size} needs {blocks} channel counts, got {len(channels)}")
        self.config = {"size": size, "channels": channels, "style_dim": style_dim,
                       "n_mlp": n_mlp, "fused_from": fused_from}
        self.size, self.style_dim, self.num_ws = size, style_dim, blocks
        self.generator = SynthesisNetwork(channels, style_dim, fused_from)
        layers: List[nn.Module] = [PixelNorm()]
        for _ in range(n_mlp):
            layers += [EqualLinear(style_dim, style_dim), nn.LeakyReLU(0.2)]
        self.style = nn.Sequential(*layers)
        # Centre of W for truncation, tracked in training; the port's checkpoints have
        # none, so load_port estimates it.
        self.register_buffer("w_avg", torch.zeros(style_dim))
        self.w_avg_source = "checkpoint"

    # -- the two graphs ---------------------------------------------------------------
    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        return self.style(z)

    def synthesis(self, ws: torch.Tensor, noises: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.generator(ws, noises)

    def forward(self, z: torch.Tensor, noises: Sequence[torch.Tensor], truncation: float = 1.0):
        return self.synthesis(self.broadcast(self.truncate(self.mapping(z), truncation)), noises)

    # -- inputs built outside the graphs ----------------------------------------------
    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        """w_avg + psi * (w - w_avg) (psi = 1: unchanged)."""
        return self.w_avg + psi * (w - self.w_avg)

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """N x style_dim -> N x blocks x style_dim (the same w for every block)."""
        return w[:, None, :].expand(-1, self.num_ws, -1)

    def mix(self, w_coarse: torch.Tensor, w_fine: torch.Tensor, crossover: int) -> torch.Tensor:
        """Style mixing: blocks below ``crossover`` take w_coarse, the rest w_fine."""
        if not 0 <= crossover <= self.num_ws:
            raise UsageError(f"crossover must be in [0, {self.num_ws}], got {crossover}")
        ws = self.broadcast(w_fine).clone()
        ws[:, :crossover] = w_coarse[:, None, :]
        return ws

    def noise_shapes(self, batch: int) -> List[tuple]:
        return [(batch, 1, 4 * 2 ** i, 4 * 2 ** i) for i in range(self.num_ws)]

    def make_noise(self, batch: int, mode: str = "random", gen: Optional[torch.Generator] = None):
        """Noise maps per block: 'random' (from gen), 'const' (fixed, seed 0) or 'none'."""
        if mode == "none":
            return [torch.zeros(s) for s in self.noise_shapes(batch)]
        if mode == "const":
            fixed = torch.Generator().manual_seed(0)
            return [torch.randn(s[1:], generator=fixed).expand(s) for s in self.noise_shapes(batch)]
        if mode == "random":
            return [torch.randn(s, generator=gen) for s in self.noise_shapes(batch)]
        raise UsageError(f"noise mode must be random, const or none, got {mode!r}")

    @torch.no_grad()
    def estimate_w_avg(self, n: int = 10240, seed: int = 0) -> torch.Tensor:
        """Mean of mapped random z (deterministic); sets and returns w_avg."""
        z = torch.randn(n, self.style_dim, generator=torch.Generator().manual_seed(seed))
        self.w_avg.copy_(torch.cat([self.mapping(c) for c in z.split(1024)]).mean(0))
        self.w_avg_source = f"estimated: mean of {n} mapped z (seed {seed})"
        return self.w_avg


def port_state_dict(obj, size: int, path: str = "checkpoint"):
    """The port's generator state dict from a train.py checkpoint (``g_running``, else
    ``generator``) or a bare one, with the blocks above ``size`` dropped."""
    from ..checkpoints import CheckpointError, find_state_dict

    state = find_state_dict(obj, ("g_running", "generator"), path)
    if not any(k.startswith("generator.progression.") for k in state):
        raise CheckpointError(f"{path} is not a style-based-gan-pytorch generator "
                              f"(no generator.progression.* keys)")
    blocks = int(math.log2(size)) - 1
    have = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("generator.progression."))
    if have < blocks:
        raise CheckpointError(f"{path} holds resolutions up to {4 * 2 ** (have - 1)}, not {size}: "
                              f"pick a smaller --size")

    def keep(k: str) -> bool:
        parts = k.split(".")
        if parts[0] == "generator" and parts[1] in ("progression", "to_rgb"):
            return int(parts[2]) < blocks
        return True

    return {k: v for k, v in state.items() if keep(k)}


def load_port(obj, size: int = 1024, path: str = "checkpoint") -> StyleGAN:
    """A StyleGAN at ``size`` from a rosinality checkpoint object; w_avg is estimated from
    10240 mapped z (seed 0), as that port's generate.py does (those files have none)."""
    from ..checkpoints import load_strict

    state = port_state_dict(obj, size, path)
    style_dim = state["style.1.linear.weight_orig"].shape[1] if "style.1.linear.weight_orig" in state else 512
    n_mlp = sum(1 for k in state if k.startswith("style.") and k.endswith(".linear.weight_orig"))
    model = StyleGAN(size, style_dim=style_dim, n_mlp=n_mlp or 8)
    load_strict(model, {**state, "w_avg": model.w_avg}, f"{path} (StyleGAN at {size}x{size})")
    model.estimate_w_avg()
    return model.eval()

# -- what the exporter writes (stylert.families names this module) -------------------
MODEL = StyleGAN


class _Synthesis(nn.Module):
    """The synthesis network as a module of (ws, *noises), one graph input per noise map."""

    def __init__(self, g: nn.Module):
        super().__init__()
        self.g = g

    def forward(self, ws, *noises):
        return self.g.synthesis(ws, list(noises))


def modules(g) -> Dict[str, nn.Module]:
    """Graph name -> the module it is exported from (the torch backend runs these too)."""
    return {"mapping": Call(g, g.mapping), "synthesis": _Synthesis(g)}


def foreign(obj, path: str, size: int = 1024) -> "StyleGAN":
    """A rosinality style-based-gan-pytorch checkpoint (the other layout this family loads)."""
    return load_port(obj, size, path)


def io_rules(g) -> Dict:
    """What a runtime needs to know to feed the graphs and read their outputs."""
    return {"num_ws": g.num_ws, "style_dim": g.style_dim, "size": g.size,
            "noise_shapes": [list(s[1:]) for s in g.noise_shapes(1)],
            "w_avg": [float(v) for v in g.w_avg], "w_avg_source": g.w_avg_source,
            "output_range": [-1, 1]}


STYLEGAN_SEEDS, STYLEGAN_TRUNCATION = 4, 0.7


def graphs(g) -> List[Graph]:
    z = torch.randn(STYLEGAN_SEEDS, g.style_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ws = g.broadcast(g.truncate(g.mapping(z), STYLEGAN_TRUNCATION))
    noises = g.make_noise(STYLEGAN_SEEDS, "random", torch.Generator().manual_seed(1))
    noise_inputs = {f"noise_{i}": ("batch", 1, s[2], s[3]) for i, s in enumerate(g.noise_shapes(1))}
    # Calibration: other seeds than the parity ones, truncated as generation usually is.
    gen = torch.Generator().manual_seed(2)
    calib_z = [torch.randn(8, g.style_dim, generator=gen) for _ in range(8)]
    with torch.no_grad():
        calib_ws = [[as_numpy(g.broadcast(g.truncate(g.mapping(c), STYLEGAN_TRUNCATION)))]
                    + [as_numpy(n) for n in g.make_noise(8, "random", gen)] for c in calib_z]
    m = modules(g)
    return [
        Graph("mapping", m["mapping"], {"z": ("batch", g.style_dim)}, "w", [as_numpy(z)],
              [[as_numpy(c)] for c in calib_z]),
        Graph("synthesis", m["synthesis"], {"ws": ("batch", g.num_ws, g.style_dim), **noise_inputs},
              "image", [as_numpy(ws)] + [as_numpy(n) for n in noises], calib_ws, varargs=True),
    ]

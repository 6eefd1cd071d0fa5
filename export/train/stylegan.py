"""Training recipe for a small StyleGAN with the WGAN-GP loss (Gulrajani et al. 2017), at
a fixed resolution, on scikit-learn's bundled digits upscaled to 32x32.

D loss = D(fake) - D(real) + 10 * (|grad D(x_hat)| - 1)^2 + 0.001 * D(real)^2  (drift, ProGAN)
G loss = -D(fake); Adam(0, 0.99), the mapping network at 1/100 of the learning rate, style
mixing regularization (90% of batches), an exponential moving average of the generator
(the weights that ship) and of w (the truncation centre).
Quality is reported as the sliced Wasserstein distance (ProGAN's metric) on 7x7 patches
against held-out real images, for the trained and for an untrained generator.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Dict, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from stylert.argtypes import positive
from stylert.limits import count, counts

from ..data import digits
from ..models.stylegan import StyleGAN
from .loop import publish, train

# -- what `stylert train stylegan` takes and says (stylert.apps.train reads these) -------------
HELP = "a small StyleGAN (WGAN-GP) on scikit-learn's digits"
STEPS, EVERY = 5000, 250  # the defaults of --steps and --every (checkpoints)
OPTIONS = [
    ("--size", dict(type=count("train-size"), default=32, help="output resolution (power of two)")),
    ("--channels", dict(type=counts("units"), default=[64, 64, 32, 16], help="channels per block, 4x4 first")),
    ("--style-dim", dict(type=count("units"), default=64)),
    ("--n-mlp", dict(type=count("depth"), default=8, help="mapping network depth")),
    ("--batch", dict(type=count("train-batch"), default=16)),
    ("--lr", dict(type=positive, default=1e-3)),
]


def summary(m: Dict[str, float]) -> str:
    return (f"SWD to held-out digits: trained {m['swd_trained']:.1f}, untrained {m['swd_untrained']:.1f}, "
            f"real {m['swd_real_vs_real']:.1f}")


def digits_images(size: int = 32, seed: int = 0):
    """(train, held-out) N x 3 x size x size in [-1, 1]: the digits split of data.digits,
    upscaled bicubically."""

    def images(flat):
        x = torch.from_numpy(flat).reshape(-1, 1, 8, 8)
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
        return (x * 2 - 1).expand(-1, 3, -1, -1).contiguous()

    train_x, _, test_x, _ = digits(seed)
    return images(train_x), images(test_x)


class Discriminator(nn.Module):
    """ProGAN-style critic: from_rgb, (conv, conv, avg-pool) per resolution down to 4x4,
    minibatch standard deviation, conv and a linear output. No normalization (WGAN-GP)."""

    def __init__(self, size: int, channels: Sequence[int]):
        super().__init__()
        blocks = int(np.log2(size)) - 2
        chans = list(reversed(channels))  # channels[i] is the generator's at 4 * 2**i
        self.from_rgb = nn.Conv2d(3, chans[0], 1)
        layers = []
        for i in range(blocks):
            cin, cout = chans[i], chans[i + 1]
            layers += [nn.Conv2d(cin, cin, 3, padding=1), nn.LeakyReLU(0.2),
                       nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.2), nn.AvgPool2d(2)]
        self.body = nn.Sequential(*layers)
        c = chans[blocks]
        self.final = nn.Sequential(nn.Conv2d(c + 1, c, 3, padding=1), nn.LeakyReLU(0.2),
                                   nn.Flatten(), nn.Linear(c * 16, c), nn.LeakyReLU(0.2), nn.Linear(c, 1))

    def forward(self, x):
        x = self.body(F.leaky_relu(self.from_rgb(x), 0.2))
        std = x.std(0, unbiased=False).mean().expand(x.shape[0], 1, 4, 4)  # minibatch stddev
        return self.final(torch.cat([x, std], 1)).squeeze(1)


def gradient_penalty(d: nn.Module, real: torch.Tensor, fake: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    eps = torch.rand(real.shape[0], 1, 1, 1, generator=g)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def sample_ws(gen: StyleGAN, n: int, g: torch.Generator, mixing: float = 0.9) -> torch.Tensor:
    """Per-block w for a batch, with style mixing at a random crossover for a `mixing` share."""
    w1 = gen.mapping(torch.randn(n, gen.style_dim, generator=g))
    w2 = gen.mapping(torch.randn(n, gen.style_dim, generator=g))
    ws = gen.broadcast(w1)
    if gen.num_ws > 1 and float(torch.rand((), generator=g)) < mixing:
        cross = int(torch.randint(1, gen.num_ws, (1,), generator=g))
        ws = torch.cat([ws[:, :cross], gen.broadcast(w2)[:, cross:]], 1)
    return ws


def patches(images: torch.Tensor, per_image: int, g: torch.Generator, k: int = 7) -> torch.Tensor:
    """Random k x k patch descriptors (N * per_image x 3kk)."""
    n, c, h, w = images.shape
    ys = torch.randint(h - k + 1, (n, per_image), generator=g)
    xs = torch.randint(w - k + 1, (n, per_image), generator=g)
    out = [images[i, :, y:y + k, x:x + k].reshape(-1) for i in range(n) for y, x in zip(ys[i], xs[i])]
    return torch.stack(out)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, seed: int = 0, directions: int = 256) -> float:
    """SWD between two image sets on 7x7 patch descriptors, normalized per descriptor
    dimension by the first set's statistics (ProGAN's metric at one pyramid level)."""
    g = torch.Generator().manual_seed(seed)
    pa, pb = patches(a, 32, g), patches(b, 32, g)
    n = min(len(pa), len(pb))
    pa, pb = pa[:n], pb[:n]
    mean, std = pa.mean(0), pa.std(0) + 1e-8
    pa, pb = (pa - mean) / std, (pb - mean) / std
    dirs = torch.randn(pa.shape[1], directions, generator=g)
    dirs /= dirs.norm(dim=0, keepdim=True)
    proj_a, _ = torch.sort(pa @ dirs, dim=0)
    proj_b, _ = torch.sort(pb @ dirs, dim=0)
    return float((proj_a - proj_b).abs().mean()) * 1e3  # ProGAN reports x 1e3


@torch.no_grad()
def generate(gen: StyleGAN, n: int, seed: int, truncation: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, gen.style_dim, generator=g)
    return gen(z, gen.make_noise(n, "random", g), truncation).clamp(-1, 1)


def run(out: Path, *, steps: int = 5000, size: int = 32, channels: Sequence[int] = (64, 64, 32, 16),
        style_dim: int = 64, n_mlp: int = 8, batch: int = 16, lr: float = 1e-3, seed: int = 0,
        every: int = 250, resume: bool = False, command: str = "") -> Dict[str, float]:
    """Trains; writes stylegan.pt (EMA weights + w_avg), stylegan.md, stylegan.png, stylegan.train.pt."""
    torch.manual_seed(seed)
    gen = StyleGAN(size, channels=channels, style_dim=style_dim, n_mlp=n_mlp)
    untrained = copy.deepcopy(gen).eval()
    ema = copy.deepcopy(gen).eval().requires_grad_(False)
    disc = Discriminator(size, gen.config["channels"])
    opt_g = torch.optim.Adam([{"params": gen.generator.parameters()},
                              {"params": gen.style.parameters(), "lr": lr * 0.01}], lr=lr, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.0, 0.99))
    real_all, held_out = digits_images(size, seed)
    rng = torch.Generator().manual_seed(seed)

    def step_fn(step: int, g: torch.Generator) -> Dict[str, float]:
        real = real_all[torch.randint(len(real_all), (batch,), generator=g)]  # no flips: digits
        # critic
        with torch.no_grad():
            ws = sample_ws(gen, batch, g)
        fake = gen.synthesis(ws, gen.make_noise(batch, "random", g))
        d_real, d_fake = disc(real), disc(fake.detach())
        loss_d = d_fake.mean() - d_real.mean() + 10 * gradient_penalty(disc, real, fake.detach(), g) \
            + 1e-3 * (d_real ** 2).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        # generator
        ws = sample_ws(gen, batch, g)
        loss_g = -disc(gen.synthesis(ws, gen.make_noise(batch, "random", g))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        with torch.no_grad():
            for pe, p in zip(ema.parameters(), gen.parameters()):
                pe.lerp_(p, 0.001)
            ema.w_avg.lerp_(ws[:, 0].mean(0), 0.005)
        return {"d": loss_d.item(), "g": loss_g.item()}

    config = {"steps": steps, "batch": batch, "lr": lr, "seed": seed, **gen.config}
    t0 = time.perf_counter()
    train(kind="stylegan", steps=steps, step_fn=step_fn,
          parts={"gen": gen, "ema": ema, "disc": disc, "opt_g": opt_g, "opt_d": opt_d},
          gen=rng, out=Path(out), every=every, resume=resume, config=config)
    n = len(held_out)
    metrics = {
        "swd_trained": sliced_wasserstein(held_out, generate(ema, n, seed + 1)),
        "swd_untrained": sliced_wasserstein(held_out, generate(untrained, n, seed + 1)),
        "swd_real_vs_real": sliced_wasserstein(held_out, real_all[:n]),
        "wall_seconds_this_run": time.perf_counter() - t0,
    }
    publish(out, "stylegan", ema, sample_grid(ema, seed), card(metrics, config, command),
            train=config, metrics=metrics)
    return metrics


def sample_grid(gen: StyleGAN, seed: int, rows: int = 6, cols: int = 8) -> np.ndarray:
    """Top rows: samples at truncation 1.0; bottom rows: the same seeds at 0.7. BGR uint8."""
    from stylert import pictures

    n = rows * cols // 2
    imgs = torch.cat([generate(gen, n, seed + 2, 1.0), generate(gen, n, seed + 2, 0.7)])
    arr = ((imgs + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()[..., ::-1]
    import cv2

    arr = np.stack([cv2.resize(a, (64, 64), interpolation=cv2.INTER_NEAREST) for a in arr])
    return pictures.tile(arr, cols, pad=2)


def card(m: Dict[str, float], config: Dict, command: str) -> str:
    text = f"""# Model card: StyleGAN (default)

- Generator: StyleGAN v1 at {config['size']}x{config['size']}, channels {config['channels']}, style_dim {config['style_dim']}, {config['n_mlp']}-layer mapping; the shipped weights are the exponential moving average (decay 0.999), with the tracked w_avg for truncation
- Critic: ProGAN-style, minibatch stddev; WGAN-GP (lambda 10, drift 0.001), Adam lr {config['lr']} betas (0, 0.99), mapping at 1/100 lr, style mixing on 90% of batches
- Data: scikit-learn's bundled digits (1797 8x8 images) upscaled bicubically to {config['size']}x{config['size']}, 80% for training (seed {config['seed']})
- Training: batch {config['batch']}, {config['steps']} steps, seed {config['seed']}; {m['wall_seconds_this_run'] / 60:.0f} min on the machine that trained it (2-core CPU)
- Made with: `{command}`

Sliced Wasserstein distance (x1e3, 7x7 patches, 256 directions) to the held-out 20%:

| generator | SWD (lower is better) |
|---|---:|
| trained (this model, truncation 1.0) | {m['swd_trained']:.1f} |
| untrained (same architecture and seed) | {m['swd_untrained']:.1f} |
| real training images (floor) | {m['swd_real_vs_real']:.1f} |

Picture: `stylegan.png` (top half: truncation 1.0; bottom half: the same seeds at 0.7).
"""
    return text

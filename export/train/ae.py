"""Training recipe for the autoencoder on scikit-learn's bundled digits (8x8, offline).

The held-out reconstruction error is compared with PCA of the same latent size, the
linear autoencoder a nonlinear one has to beat.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, Sequence

import numpy as np
import torch
from torch import nn

from stylert.argtypes import positive
from stylert.digits import HELD_OUT, pca_mse
from stylert.limits import count, counts

from ..data import digits
from ..models.ae import AutoEncoder
from .loop import publish, train

# -- what `stylert train ae` takes and says (stylert.apps.train reads these) -------------------
HELP = "the MLP autoencoder on scikit-learn's digits"
STEPS, EVERY = 6000, 1000  # the defaults of --steps and --every (checkpoints)
OPTIONS = [
    ("--batch", dict(type=count("train-batch"), default=128)),
    ("--lr", dict(type=positive, default=2e-3)),
    ("--latent", dict(type=count("units"), default=2, help="latent size (2 draws the manifold)")),
    ("--hidden", dict(type=counts("units"), default=[256, 128], help="hidden sizes, e.g. 256,128")),
]


def summary(m: Dict[str, float]) -> str:
    return f"held-out MSE: autoencoder {m['test_mse_ae']:.4f}, PCA {m['test_mse_pca']:.4f}"


def ae_mse(model: AutoEncoder, x: np.ndarray) -> float:
    with torch.no_grad():
        t = torch.from_numpy(x)
        return float(nn.functional.mse_loss(model(t), t))


def manifold_picture(model: AutoEncoder, x: np.ndarray, labels: np.ndarray, cells: int = 16) -> np.ndarray:
    """Left: held-out digits at their latent codes; right: decoder outputs on a grid
    spanning the same region of the latent plane (first two latent dimensions)."""
    import cv2

    from stylert import pictures

    with torch.no_grad():
        z = model.encode(torch.from_numpy(x)).numpy()
    lo, hi = np.percentile(z[:, :2], 1, axis=0), np.percentile(z[:, :2], 99, axis=0)
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], cells), np.linspace(hi[1], lo[1], cells))
    grid = np.zeros((cells * cells, z.shape[1]), np.float32)
    grid[:, 0], grid[:, 1] = gx.ravel(), gy.ravel()  # further dimensions (if any) at 0
    h, w = model.config["image_shape"]
    with torch.no_grad():
        dec = model.decode(torch.from_numpy(grid)).numpy().reshape(-1, h, w)
    tiles = np.stack([cv2.resize((d * 255).astype(np.uint8), (w * 3, h * 3), interpolation=cv2.INTER_CUBIC)
                      for d in dec])
    right = pictures.caption(pictures.tile(tiles, cells), "decoder over the latent plane")
    left = pictures.caption(pictures.scatter(z[:, :2], labels, size=right.shape[0] - 28),
                            "held-out digits at their codes")
    return pictures.side_by_side(left, right)


def card(metrics: Dict[str, float], config: Dict, command: str) -> str:
    gain = 1 - metrics["test_mse_ae"] / metrics["test_mse_pca"]
    text = f"""# Model card: autoencoder (default)

- Architecture: MLP {config['in_dim']} -> {' -> '.join(map(str, config['hidden']))} -> {config['latent']} (latent) -> mirror -> sigmoid
- Data: scikit-learn's bundled digits (1797 8x8 images, /16 to [0, 1]); {int(HELD_OUT * 100)}% held out (seed {config['seed']})
- Training: Adam lr {config['lr']} (cosine decay), batch {config['batch']}, {config['steps']} steps, MSE, seed {config['seed']}; {metrics['wall_seconds_this_run']:.0f} s on the machine that trained it
- Made with: `{command}`

| held-out MSE per pixel | value |
|---|---:|
| this autoencoder | {metrics['test_mse_ae']:.4f} |
| PCA, {config['latent']} components (fitted on the training split) | {metrics['test_mse_pca']:.4f} |

The autoencoder's held-out error is {100 * gain:.0f}% below PCA's with the same latent size
(training-split MSE {metrics['train_mse_ae']:.4f}). Picture: `ae.png`.
"""
    return text


def run(out: Path, *, steps: int = 6000, batch: int = 128, lr: float = 2e-3, latent: int = 2,
        hidden: Sequence[int] = (256, 128), seed: int = 0, every: int = 1000,
        resume: bool = False, command: str = "") -> Dict[str, float]:
    """Trains and writes into ``out``: ae.pt (the model), ae.md (its card), ae.png (the
    manifold picture) and ae.train.pt (for --resume). Returns the metrics."""
    torch.manual_seed(seed)
    train_x, _, test_x, test_y = digits(seed)
    model = AutoEncoder(in_dim=train_x.shape[1], hidden=hidden, latent=latent)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    data = torch.from_numpy(train_x)
    gen = torch.Generator().manual_seed(seed)

    def step_fn(step: int, g: torch.Generator) -> Dict[str, float]:
        idx = torch.randint(len(data), (batch,), generator=g)
        loss = nn.functional.mse_loss(model(data[idx]), data[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        return {"mse": loss.item()}

    config = {"steps": steps, "batch": batch, "lr": lr, "seed": seed, **model.config}
    t0 = time.perf_counter()
    train(kind="ae", steps=steps, step_fn=step_fn, parts={"model": model, "opt": opt, "sched": sched}, gen=gen, out=Path(out), every=every,
          resume=resume, config=config)
    model.eval()
    metrics = {
        "test_mse_ae": ae_mse(model, test_x),
        "test_mse_pca": pca_mse(train_x, test_x, latent),
        "train_mse_ae": ae_mse(model, train_x),
        "wall_seconds_this_run": time.perf_counter() - t0,
    }
    publish(out, "ae", model, manifold_picture(model, test_x, test_y), card(metrics, config, command),
            train=config, metrics=metrics)
    return metrics


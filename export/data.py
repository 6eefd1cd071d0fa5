"""Training data that installs with the project's dependencies (no downloads).

scikit-learn ships the 8x8 digits (the autoencoder's and StyleGAN's data); scikit-image
and scikit-learn ship a handful of colour photographs, from which the AdaIN recipe draws
random crops for both content and style.
"""

from __future__ import annotations

import functools

from typing import Dict, List, Tuple

import numpy as np
import torch
from torch.nn import functional as F

from stylert.digits import digits as split_digits


def digits(seed: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train x, train labels, test x, test labels); x is (n, 64) float32 in [0, 1]. The split
    is stylert.digits' (stylert manifold reports on the same held-out digits)."""
    x, y, tr, te = split_digits(seed)
    return x[tr], y[tr], x[te], y[te]


# Colour photographs inside scikit-image (RGB uint8).
SKIMAGE_COLOUR = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
                  "immunohistochemistry", "colorwheel", "retina"]


@functools.lru_cache(maxsize=1)
def photos() -> Dict[str, np.ndarray]:
    """Name -> HxWx3 uint8 RGB image (decoded once per process; do not modify them)."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    out = {name: getattr(skimage.data, name)() for name in SKIMAGE_COLOUR}
    samples = load_sample_images()
    for path, img in zip(samples.filenames, samples.images):
        out[path.rsplit("/", 1)[-1].split(".")[0]] = img
    return {k: np.array(v[..., :3]) for k, v in out.items()}  # writeable copies


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> 1x3xHxW float in [0, 1]."""
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0


def random_crops(pool: List[torch.Tensor], n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """n crops of random images (1x3xHxW, float in [0, 1] or uint8; shorter side >= size),
    random scale (a square of 1/4 to all of the shorter side), random horizontal flip,
    resized to size x size."""
    crops = []
    for _ in range(n):
        img = pool[int(torch.randint(len(pool), (1,), generator=gen))]
        h, w = img.shape[2:]
        side = int(torch.randint(max(size, min(h, w) // 4), min(h, w) + 1, (1,), generator=gen))
        y = int(torch.randint(h - side + 1, (1,), generator=gen))
        x = int(torch.randint(w - side + 1, (1,), generator=gen))
        crop = img[:, :, y:y + side, x:x + side]
        if crop.dtype == torch.uint8:  # (a pool kept as uint8: data_fetch.load_pool)
            crop = crop.float() / 255.0
        crop = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        if bool(torch.rand((), generator=gen) < 0.5):
            crop = crop.flip(3)
        crops.append(crop)
    return torch.cat(crops).clamp(0, 1)

"""Makes the demo's generated assets from the bundled ones (OpenCV and NumPy only; the same
files on every run with the same OpenCV):

* ``astronaut_mask.png``: the person of astronaut.jpg (with her helmet) cut out by GrabCut,
  seeded by hand-placed hints, the edge feathered: the alpha of the demo scene's person.
* ``brick.jpg``, ``grass.jpg``: scikit-image's CC0 textures (``skimage.data.brick``, the
  wall behind her, turned to lie flat; ``skimage.data.grass``, its top 192 rows: the
  foreground), greyscale as published; the scene tints them. Needs scikit-image (the export
  extra); the other two files need only OpenCV.
* ``brushwork.jpg``: the demo's style, a painting made of a few thousand bold brush strokes
  that follow swirling flow lines, deep blues with yellow and cream accents, so the stylized
  video reads as "painted" at a glance even at live's processing size (~320x240).

Run from the repository root: ``python runtime/assets/make_demo_assets.py``. Licences:
README.md beside it (the mask derives from a public-domain photograph; the painting is the
project's own, MIT).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent


def person_mask() -> np.ndarray:
    """The astronaut's alpha (uint8, 512x512): GrabCut from definite hints (flag, shuttle model
    and table: background; face, neck ring, suit, helmet: person), feathered by a pixel."""
    img = cv2.imread(str(HERE / "astronaut.jpg"))
    h, w = img.shape[:2]
    m = np.full((h, w), cv2.GC_PR_FGD, np.uint8)
    m[:20] = cv2.GC_BGD
    m[:, :12] = cv2.GC_BGD
    m[:230, :110] = cv2.GC_BGD     # the flag
    m[:250, 365:] = cv2.GC_BGD     # the shuttle model
    m[250:338, 372:] = cv2.GC_BGD  # its stand, the table
    cv2.ellipse(m, (225, 105), (55, 75), 0, 0, 360, cv2.GC_FGD, -1)  # face, hair
    cv2.ellipse(m, (208, 222), (78, 52), 0, 0, 360, cv2.GC_FGD, -1)  # the neck ring and inside it
    cv2.rectangle(m, (60, 300), (320, h), cv2.GC_FGD, -1)           # the suit
    cv2.circle(m, (392, 440), 82, cv2.GC_FGD, -1)                    # the helmet
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(24)
    cv2.grabCut(img, m, None, bgd, fgd, 8, cv2.GC_INIT_WITH_MASK)
    mask = np.where((m == cv2.GC_FGD) | (m == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask)  # the largest piece only
    mask = np.where(labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])), 255, 0).astype(np.uint8)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8))  # no halo of the grey wall
    return cv2.GaussianBlur(mask, (0, 0), 1.0)


# BGR: mostly deep blues and turquoise, against cadmium yellow and a cream white (the sky of
# a starry night): one dominant hue with a bright accent reads best through AdaIN
PALETTE = np.array([(110, 35, 10), (150, 60, 20), (170, 90, 30), (190, 120, 40), (120, 40, 15), (40, 200, 245),
                    (150, 60, 20), (210, 240, 250)], np.float32)
# (width, count, length) of the strokes, broad underpainting first
STROKES = [(20, 500, 60), (14, 1200, 45), (9, 1800, 30), (6, 1200, 18)]


def _smooth_noise(rng, shape, sigma) -> np.ndarray:
    n = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma)
    return n / (np.abs(n).max() + 1e-6)


def brushwork(size=(512, 512), seed: int = 24, palette=PALETTE, strokes=STROKES) -> np.ndarray:
    """A flow-field painting (uint8 BGR, ``size`` = (w, h)): strokes follow the angle of a few
    vortices plus smooth noise; the colour comes from smooth regions of the palette, each
    stroke with a dark rim and a light ridge as thick paint has."""
    w, h = size
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = 2.5 * _smooth_noise(rng, (h, w), 60)
    for cx, cy, r, spin in [(0.25, 0.3, 0.22, 1), (0.72, 0.22, 0.16, -1), (0.6, 0.7, 0.25, 1), (0.15, 0.82, 0.14, -1)]:
        dx, dy = xs - cx * w, ys - cy * h
        d = np.sqrt(dx * dx + dy * dy)
        weight = np.exp(-(d / (r * w)) ** 2)
        swirl = np.arctan2(dy, dx) + spin * math.pi / 2
        angle = angle * (1 - weight) + swirl * weight
    palette = np.asarray(palette, np.float32)
    region = (0.5 + 0.5 * _smooth_noise(rng, (h, w), 45)) * (len(palette) - 1e-3)
    canvas = np.zeros((h, w, 3), np.float32)
    canvas[:] = palette[1]
    for width, count, length in strokes:
        for _ in range(count):
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            pts = [(x, y)]
            for _ in range(int(length * rng.uniform(0.6, 1.4)) // 3):
                a = angle[int(y) % h, int(x) % w]
                x, y = x + 3 * math.cos(a), y + 3 * math.sin(a)
                pts.append((x, y))
            k = int(region[int(pts[0][1]) % h, int(pts[0][0]) % w] + rng.normal(0, 0.9))
            colour = palette[int(np.clip(k, 0, len(palette) - 1))] * rng.uniform(0.85, 1.1)
            line = np.round(np.array(pts) * 16).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(canvas, [line], False, (colour * 0.55).tolist(), width + 2, cv2.LINE_AA, 4)
            cv2.polylines(canvas, [line], False, colour.tolist(), width, cv2.LINE_AA, 4)
            cv2.polylines(canvas, [line + np.int32([16 * width // 4, -16 * width // 4])], False,
                          np.minimum(colour * 1.3 + 30, 255).tolist(), max(1, width // 4), cv2.LINE_AA, 4)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def textures() -> None:
    from skimage import data  # the export extra; only these two files need it

    cv2.imwrite(str(HERE / "brick.jpg"), np.ascontiguousarray(np.rot90(data.brick())), [cv2.IMWRITE_JPEG_QUALITY, 85])
    cv2.imwrite(str(HERE / "grass.jpg"), np.ascontiguousarray(data.grass()[:192]), [cv2.IMWRITE_JPEG_QUALITY, 85])


def main() -> None:
    textures()
    cv2.imwrite(str(HERE / "astronaut_mask.png"), person_mask(), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    # softened a little: under 80 KB as a JPEG
    cv2.imwrite(str(HERE / "brushwork.jpg"), cv2.GaussianBlur(brushwork(), (0, 0), 0.9), [cv2.IMWRITE_JPEG_QUALITY, 80])
    for name in ("astronaut_mask.png", "brick.jpg", "grass.jpg", "brushwork.jpg"):
        print(f"{HERE / name}: {(HERE / name).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()

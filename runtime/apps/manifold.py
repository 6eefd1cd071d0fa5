"""``stylert manifold``: the autoencoder's latent manifold (codes by class, the decoder over
the latent plane) and its held-out error next to PCA's."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from .. import pictures
from ..digits import digits, pca_mse
from ..errors import UsageError
from ..images import write_image
from ..pipelines.autoencoder import AutoEncoder
from ..limits import count
from . import out_folder, path, pipeline_options


def add_parser(sub) -> None:
    p = sub.add_parser("manifold", help="the autoencoder's latent manifold: plot, decoded grid, PCA comparison")
    p.add_argument("action", nargs="*", help="`interpolate A B`: decode the line between samples A and B")
    p.add_argument("--steps", type=count("grid"), default=10, help="interpolate: images along the line")
    p.add_argument("-o", "--out", default="out/manifold", type=path, help="output folder")
    pipeline_options(p)
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    if args.action and (len(args.action) != 3 or args.action[0] != "interpolate"
                        or not all(a.isdigit() for a in args.action[1:])):
        raise UsageError("write `stylert manifold interpolate A B` with two sample numbers")
    ae = AutoEncoder(args.package, backend=args.backend, precision=args.precision, unverified=args.unverified)
    if args.action:
        picture = interpolate(ae, int(args.action[1]), int(args.action[2]), args.steps)
        out = out_folder(args.out)  # made once everything was checked
        write_image(out / "interpolate.png", picture)
        print(f"wrote {out / 'interpolate.png'}")
        return 0
    out = out_folder(args.out)
    r = manifold(ae, out)
    print(f"held-out reconstruction MSE ({r['test_samples']} digits): autoencoder {r['test_mse_autoencoder']:.4f}, "
          f"PCA with {r['latent']} components {r['test_mse_pca']:.4f}")
    print(f"wrote {out / 'report.json'}" + (f" and {out / 'manifold.png'}" if ae.latent == 2 else ""))
    return 0


def manifold(ae: AutoEncoder, out: Path, cells: int = 16) -> dict:
    """manifold.png (codes by class | decoded grid) and report.json (AE vs PCA MSE)."""
    x, labels, train, test = digits()
    z = ae.encode(x)
    rec = ae.reconstruct(x[test]).reshape(len(test), -1)
    report = {"latent": ae.latent, "test_mse_autoencoder": float(np.mean((rec - x[test]) ** 2)),
              "test_mse_pca": pca_mse(x[train], x[test], ae.latent), "test_samples": int(len(test))}
    if ae.latent == 2:
        lo, hi = np.percentile(z, 1, axis=0), np.percentile(z, 99, axis=0)
        grid = ae.grid(lo, hi, cells)
        h, w = ae.image_shape
        tiles = np.stack([cv2.resize((d * 255).astype(np.uint8), (w * 3, h * 3), interpolation=cv2.INTER_CUBIC)
                          for d in grid.reshape(-1, h, w)])
        right = pictures.caption(pictures.tile(tiles, cells), "decoder over the latent plane")
        left = pictures.caption(pictures.scatter(z, labels, size=right.shape[0] - 28), "digits at their codes")
        picture = pictures.side_by_side(left, right)  # pictures draws BGR; write_image takes RGB
        write_image(out / "manifold.png", np.ascontiguousarray(picture[..., ::-1]))
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def interpolate(ae: AutoEncoder, a: int, b: int, steps: int) -> np.ndarray:
    x, _, _, _ = digits()
    for i in (a, b):
        if not 0 <= i < len(x):
            raise UsageError(f"sample {i} is out of range: the digits have {len(x)} samples (0-{len(x) - 1})")
    line = ae.interpolate(x[a], x[b], steps)
    h, w = ae.image_shape
    tiles = np.stack([cv2.resize((d * 255).astype(np.uint8), (w * 6, h * 6), interpolation=cv2.INTER_CUBIC)
                      for d in line])
    return pictures.tile(tiles, steps)

"""``stylert train MODEL``: the project's training recipes (needs torch)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..limits import count, counts
from . import export_module, fraction, positive_int

# What each `stylert train MODEL` prints when done, from the recipe's metrics.
TRAIN_SUMMARY = {
    "ae": lambda m: f"held-out MSE: autoencoder {m['test_mse_ae']:.4f}, PCA {m['test_mse_pca']:.4f}",
    "stylegan": lambda m: f"SWD to held-out digits: trained {m['swd_trained']:.1f}, "
                          f"untrained {m['swd_untrained']:.1f}, real {m['swd_real_vs_real']:.1f}",
    "adain": lambda m: f"held-out: colour statistics moved {m['colour_distance_moved']:.2f} of the way "
                       f"to the style, edge correlation with the content {m['edge_correlation']:.2f}",
}
TRAIN_SUMMARY["student"] = TRAIN_SUMMARY["adain"]
PUBLISHED = {"student": "adain"}  # the student is an ordinary lite AdaIN checkpoint
# Both AdaIN recipes take it: the decoder also learns to invert the content's own features.
RECON_WEIGHT = ("--recon-weight", dict(type=float, default=0.0,
                                       help="weight of a pixel reconstruction loss (sharper structure)"))


def train(args: argparse.Namespace) -> int:
    recipe = export_module(f"train.{args.model}")
    common = {"out", "steps", "seed", "every", "resume"}
    options = {k: v for k, v in vars(args).items() if k in common | set(args.recipe_options)}
    options["out"] = Path(args.out)
    metrics = recipe.run(command="stylert " + " ".join(args.argv), **options)
    name = PUBLISHED.get(args.model, args.model)
    print(f"{TRAIN_SUMMARY[args.model](metrics)}; wrote {args.out}/{name}.pt, .md, .png")
    return 0


def _train_parser(tsub, name: str, help: str, steps: int, every: int, options) -> None:
    t = tsub.add_parser(name, help=help)
    t.add_argument("--out", default=f"runs/{name}", help=f"output folder (default: runs/{name})")
    t.add_argument("--steps", type=positive_int, default=steps)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--every", type=positive_int, default=every, help="checkpoint every N steps")
    state = {"student": "adain-student"}.get(name, name)
    t.add_argument("--resume", action="store_true", help=f"continue from OUT/{state}.train.pt")
    for flag, kwargs in options:
        t.add_argument(flag, **kwargs)
    t.set_defaults(func=train, recipe_options=[f.lstrip("-").replace("-", "_") for f, _ in options])


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model with the project's recipe (needs torch)")
    tsub = p.add_subparsers(dest="model", metavar="MODEL", required=True)
    _train_parser(tsub, "ae", "the MLP autoencoder on scikit-learn's digits", 6000, 1000, [
        ("--batch", dict(type=count("train-batch"), default=128)),
        ("--lr", dict(type=float, default=2e-3)),
        ("--latent", dict(type=count("units"), default=2, help="latent size (2 draws the manifold)")),
        ("--hidden", dict(type=counts("units"), default=[256, 128], help="hidden sizes, e.g. 256,128")),
    ])
    _train_parser(tsub, "adain", "the AdaIN decoder on the bundled photographs", 6000, 250, [
        ("--width", dict(type=fraction, default=0.25, help="channel width multiplier (1 = VGG-19)")),
        ("--size", dict(type=count("train-size"), default=128, help="training crop size")),
        ("--batch", dict(type=count("train-batch"), default=4)),
        ("--lr", dict(type=float, default=5e-4)),
        ("--style-weight", dict(type=float, default=10.0)),
        RECON_WEIGHT,
        ("--vgg", dict(default=None, help="official vgg_normalised.pth as the fixed encoder")),
        ("--unsafe-pickle", dict(action="store_true",
                                 help="allow a --vgg file that needs full unpickling (runs its code)")),
        ("--encoder", dict(choices=["vgg19", "vgg16-hed"], default="vgg19",
                           help="vgg19: random at --width, or the official one with --vgg; vgg16-hed: the "
                                "pretrained VGG-16 of HED at width 1 (python -m stylert.export.vgg16_hed "
                                "converts it once)")),
        ("--encoder-weights", dict(default=None, metavar="FILE",
                                   help="the converted vgg16-hed weights (default: "
                                        "~/.cache/stylert/vgg16_hed_relu4_1.pt)")),
        ("--data", dict(choices=["photos", "debian"], default="photos",
                        help="photos: the scikit-image/-learn photographs; debian: also the wallpapers and "
                             "textures python -m stylert.export.data_fetch cached (held-out ones left out)")),
    ])
    _train_parser(tsub, "student", "the real-time AdaIN: a lite encoder distilled from the pretrained VGG-16 "
                  "HED, its decoder trained in the teacher's features (its recipe: `make student`)",
                  10000, 500, [
        ("--distill-steps", dict(type=positive_int, default=2000, help="steps of encoder distillation first")),
        ("--width", dict(type=fraction, default=0.25, help="the student's width (of VGG-19)")),
        ("--size", dict(type=count("train-size"), default=96, help="training crop size")),
        ("--batch", dict(type=count("train-batch"), default=4)),
        ("--lr", dict(type=float, default=5e-4)),
        ("--style-weight", dict(type=float, default=0.1)),
        (RECON_WEIGHT[0], {**RECON_WEIGHT[1], "default": 5000.0}),
        ("--encoder-weights", dict(default=None, metavar="FILE", help="the teacher's converted weights (default: "
                                                                       "~/.cache/stylert/vgg16_hed_relu4_1.pt)")),
        ("--data", dict(choices=["photos", "debian"], default="photos",
                        help="debian: also the wallpapers and textures of python -m stylert.export.data_fetch")),
        ("--init", dict(default=None, metavar="CHECKPOINT",
                        help="start phase 2 from this AdaIN checkpoint of the student's shape (e.g. "
                             "export/defaults/adain.pt): no phase 1, all --steps train the decoder")),
        ("--structure-weight", dict(type=float, default=0.0,
                                    help="weight of a content loss on the teacher's relu3_1, normalised per "
                                         "channel (the content's layout)")),
        ("--colour-weight", dict(type=float, default=0.0,
                                 help="weight of a loss on the output's RGB mean, std and covariance toward the "
                                      "style image's")),
    ])
    _train_parser(tsub, "stylegan", "a small StyleGAN (WGAN-GP) on scikit-learn's digits", 5000, 250, [
        ("--size", dict(type=count("train-size"), default=32, help="output resolution (power of two)")),
        ("--channels", dict(type=counts("units"), default=[64, 64, 32, 16], help="channels per block, 4x4 first")),
        ("--style-dim", dict(type=count("units"), default=64)),
        ("--n-mlp", dict(type=count("depth"), default=8, help="mapping network depth")),
        ("--batch", dict(type=count("train-batch"), default=16)),
        ("--lr", dict(type=float, default=1e-3)),
    ])

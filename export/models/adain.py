"""AdaIN arbitrary style transfer (Huang & Belongie 2017).

encoder: VGG-19 up to relu4_1, preceded by the 1x1 colour conv of the "normalised" VGG
         (it maps RGB in [0, 1] to the Caffe VGG's mean-subtracted BGR 0-255 input);
         or (``encoder="vgg16-hed"``) VGG-16 up to relu4_1 with that mapping folded into
         conv1_1, for the pretrained weights stylert.export.vgg16_hed converts. Both give
         512 x width channels at 1/8 resolution, so AdaIN and the decoder do not change.
AdaIN:   the content features take the style features' per-channel mean and std
decoder: mirror of the encoder, reflection padding, nearest x2 upsampling (the paper's), or
         bilinear (``upsample="bilinear"``: no blocky x2 pattern for the convolutions to undo)

Both halves are ``nn.Sequential``s laid out index for index like the reference PyTorch
implementation, so its ``vgg_normalised.pth`` and ``decoder.pth`` state dicts load with
their own key names. ``width`` scales every channel count (1.0 is the official network;
0.25 is the "lite" variant bundled as default, same topology).
An image of H x W comes back as 8*ceil(H/8) x 8*ceil(W/8) (ceil-mode pooling, x8 upsampling).
Images need at least MIN_SIDE pixels a side: relu4_1 must be 2 wide for reflection padding.
"""

from __future__ import annotations

import copy
from typing import Dict, List, Tuple

import numpy as np
import torch
from torch import nn

from stylert.errors import UsageError

from ..data import photos, random_crops, to_tensor
from ..graphs import Graph, as_numpy
from ..ops import DEFAULT_EPS, AdaIN, adain_from_stats, calc_mean_std
from ..vgg import ENCODERS, VGG_UNUSED_KEYS, channels

# Images need at least this many pixels a side (relu4_1 must be 2 wide for reflection padding).
MIN_SIDE = 9
UPSAMPLE_MODES = ("nearest", "bilinear")


class Decoder(nn.Sequential):
    """The reference ``decoder`` Sequential: relu4_1 features -> image."""

    def __init__(self, width: float = 1.0, upsample: str = "nearest"):
        c = lambda n: channels(n, width)  # noqa: E731
        block = lambda i, o: [nn.ReflectionPad2d(1), nn.Conv2d(c(i), c(o), 3), nn.ReLU()]  # noqa: E731
        up = nn.Upsample(scale_factor=2, mode=upsample, **({"align_corners": False} if upsample != "nearest" else {}))
        layers: List[nn.Module] = [*block(512, 256), up]
        layers += [*block(256, 256), *block(256, 256), *block(256, 256), *block(256, 128), up]
        layers += [*block(128, 128), *block(128, 64), up]
        layers += [*block(64, 64), nn.ReflectionPad2d(1), nn.Conv2d(c(64), 3, 3)]
        super().__init__(*layers)
        assert len(self) == 29


class AdaINNet(nn.Module):
    """Encoder, AdaIN and decoder. ``forward`` takes the style as statistics, so a style
    is encoded once and reused for every frame (and so the graph exports to ONNX)."""

    def __init__(self, width: float = 1.0, eps: float = DEFAULT_EPS, encoder: str = "vgg19",
                 upsample: str = "nearest"):
        super().__init__()
        if not 0.0 < width <= 1.0:
            raise UsageError(f"width must be in (0, 1], got {width}")
        if encoder not in ENCODERS:
            raise UsageError(f"unknown AdaIN encoder '{encoder}': choose one of {', '.join(ENCODERS)}")
        if upsample not in UPSAMPLE_MODES:
            raise UsageError(f"unknown AdaIN upsample '{upsample}': choose one of {', '.join(UPSAMPLE_MODES)}")
        self.config = {"width": width, "eps": eps}
        # Defaults stay out of the config, so earlier checkpoints and package files are unchanged.
        if encoder != "vgg19":
            self.config["encoder"] = encoder
        if upsample != "nearest":
            self.config["upsample"] = upsample
        self.eps = eps
        self.encoder = ENCODERS[encoder](width)
        self.decoder = Decoder(width, upsample)
        self.adain = AdaIN(eps)

    def style_stats(self, style: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mean and std of the style image's relu4_1 features, shape (N, C, 1, 1)."""
        check_image(style, "style")
        return calc_mean_std(self.encoder(style), self.eps)

    def forward(self, content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor,
                alpha: torch.Tensor | float = 1.0) -> torch.Tensor:
        feat = self.encoder(content)
        return self.decoder(self.adain(feat, style_mean, style_std, alpha))

    def stylize(self, content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        check_image(content, "content")
        return self(content, *self.style_stats(style), alpha)


def check_image(x: torch.Tensor, name: str) -> None:
    """Eager-mode check (forward stays free of shape-dependent Python for export)."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise UsageError(f"{name} must be an (N, 3, H, W) RGB batch, got shape {tuple(x.shape)}")
    if min(x.shape[2:]) < MIN_SIDE:
        raise UsageError(f"{name} is {x.shape[2]}x{x.shape[3]}; AdaIN needs at least "
                         f"{MIN_SIDE} pixels a side: resize it up")


def adain_losses(net: AdaINNet, content: torch.Tensor, style: torch.Tensor,
                 alpha: float = 1.0) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The paper's training losses for the decoder (encoder fixed).

    content loss: || f(g(t)) - t ||^2 with t the AdaIN target (eq. 12);
    style loss: sum over relu1_1..relu4_1 of || mu(phi(g(t))) - mu(phi(s)) ||^2 + same for sigma
    (eq. 13). Returns (image g(t), content loss, style loss).
    """
    style_feats = net.encoder.features(style)
    c_feat = net.encoder(content)
    s_mean, s_std = calc_mean_std(style_feats[-1], net.eps)
    t = adain_from_stats(c_feat, s_mean, s_std, alpha, net.eps)
    image = net.decoder(t)
    out_feats = net.encoder.features(image)
    return image, nn.functional.mse_loss(out_feats[-1], t), style_loss(out_feats, style_feats, net.eps)


def style_loss(out_feats, style_feats, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """The paper's style loss (eq. 13): over the layers, || mu(o) - mu(s) ||^2 + || sigma(o) - sigma(s) ||^2."""
    mse = nn.functional.mse_loss
    loss = out_feats[0].new_zeros(())
    for o, s in zip(out_feats, style_feats):
        om, osd = calc_mean_std(o, eps)
        sm, ssd = calc_mean_std(s, eps)
        loss = loss + mse(om, sm) + mse(osd, ssd)
    return loss


def load_reference_encoder(net: AdaINNet, vgg_path, allow_pickle: bool = False) -> None:
    """Loads the reference ``vgg_normalised.pth`` into ``net.encoder`` (width 1)."""
    from ..checkpoints import find_state_dict, load_file, load_strict

    vgg = find_state_dict(load_file(vgg_path, allow_pickle=allow_pickle), ("state_dict",), str(vgg_path))
    vgg = {k: v for k, v in vgg.items() if k not in VGG_UNUSED_KEYS}
    load_strict(net.encoder, vgg, f"{vgg_path} (VGG encoder up to relu4_1)")


def load_vgg16_hed_encoder(net: AdaINNet, path=None) -> None:
    """Loads the converted VGG-16 HED weights (stylert.export.vgg16_hed; ``path`` or its
    default file) into ``net.encoder`` (encoder "vgg16-hed", width 1)."""
    from .. import vgg16_hed
    from ..checkpoints import load_strict

    load_strict(net.encoder, vgg16_hed.load(path),
                f"{path or vgg16_hed.default_path()} (VGG-16 HED encoder up to relu4_1)")


def load_reference(vgg_path, decoder_path, allow_pickle: bool = False) -> AdaINNet:
    """The reference implementation's ``vgg_normalised.pth`` + ``decoder.pth`` (or a
    ``decoder_iter_N.pth.tar`` from its trainer) as an AdaINNet of width 1."""
    from ..checkpoints import find_state_dict, load_file, load_strict

    net = AdaINNet(1.0)
    load_reference_encoder(net, vgg_path, allow_pickle)
    dec = find_state_dict(load_file(decoder_path, allow_pickle=allow_pickle),
                          ("state_dict", "decoder"), str(decoder_path))
    load_strict(net.decoder, dec, f"{decoder_path} (decoder)")
    return net.eval()

# -- what the exporter writes (stylert.families names this module) -------------------
MODEL = AdaINNet

# The frames the graphs take and give: what the video layer has (OpenCV's camera pixels), so
# the runtime passes frames through without converting them on the host.
FRAME = {"layout": "NHWC", "channels": "BGR", "dtype": "uint8", "range": [0, 255]}


def _first_conv(layers: nn.Sequential) -> nn.Conv2d:
    return next(m for m in layers if isinstance(m, nn.Conv2d))


class FrameEncoder(nn.Module):
    """The encoder on uint8 NHWC BGR frames: only a cast and a transpose are added; the
    channel order and the 1/255 scale are folded into the first convolution's weights (the
    reflection padding before a VGG-16 conv1_1 commutes with that per-channel scale)."""

    def __init__(self, encoder: nn.Sequential):
        super().__init__()
        self.encoder = copy.deepcopy(encoder)
        conv = _first_conv(self.encoder)
        with torch.no_grad():
            conv.weight.copy_(conv.weight.flip(1) / 255.0)  # input channels RGB -> BGR

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        return self.encoder(frame.permute(0, 3, 1, 2).float().contiguous())  # (torch: not channels-last)


class FrameDecoder(nn.Module):
    """The decoder giving uint8 NHWC BGR frames: the x255 scale and the channel order folded
    into the last convolution, then clip, round (half to even, as ONNX Round), cast and
    transpose (the transpose after the cast moves a quarter of the bytes)."""

    def __init__(self, decoder: nn.Sequential):
        super().__init__()
        self.decoder = copy.deepcopy(decoder)
        conv = [m for m in self.decoder if isinstance(m, nn.Conv2d)][-1]
        with torch.no_grad():
            conv.weight.copy_(conv.weight.flip(0) * 255.0)  # output channels RGB -> BGR
            conv.bias.copy_(conv.bias.flip(0) * 255.0)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        image = self.decoder(features).clamp(0.0, 255.0).round()
        return image.to(torch.uint8).permute(0, 2, 3, 1)


def modules(net) -> Dict[str, nn.Module]:
    """Graph name -> the module it is exported from (the torch backend runs these too).
    adain_full is the whole network in one float graph, for ONNX consumers without
    stylert's AdaIN kernel: exported only on request (``graphs(net, full=True)``)."""
    return {"encoder": FrameEncoder(net.encoder), "decoder": FrameDecoder(net.decoder), "adain_full": net}


def io_rules(net) -> Dict:
    """What a runtime needs to know to feed the graphs and read their outputs."""
    return {"frame": dict(FRAME), "min_side": MIN_SIDE,
            "output_size": "8*ceil(H/8) x 8*ceil(W/8)", "features_stride": 8,
            "eps": net.eps, "std": "unbiased, sqrt(var + eps)",
            "adain_full": "NCHW float32 RGB in [0, 1] (content), output likewise"}


# AdaIN parity inputs: held-out photographs (the recipe never trained on them).
ADAIN_CONTENTS, ADAIN_STYLE, ADAIN_SIDE = ("china", "flower"), "coffee", (96, 136)


def _photo(name: str, hw=ADAIN_SIDE) -> torch.Tensor:
    return torch.nn.functional.interpolate(to_tensor(photos()[name]), size=hw, mode="bilinear",
                                           align_corners=False, antialias=True)


def as_frames(x: torch.Tensor) -> np.ndarray:
    """NCHW RGB in [0, 1] -> the graphs' uint8 NHWC BGR frames."""
    return np.ascontiguousarray((x.clamp(0, 1) * 255).round().to(torch.uint8).flip(1).permute(0, 2, 3, 1).numpy())


def graphs(net, full: bool = False) -> List[Graph]:
    frames = as_frames(torch.cat([_photo(n) for n in ADAIN_CONTENTS]))
    content = torch.from_numpy(frames).flip(3).permute(0, 3, 1, 2).float() / 255  # what the frames hold
    with torch.no_grad():
        s_mean, s_std = net.style_stats(_photo(ADAIN_STYLE).expand(len(ADAIN_CONTENTS), -1, -1, -1))
        feat = net.adain(net.encoder(content), s_mean, s_std, 0.8)
    alpha = torch.tensor([0.8])
    # Calibration: crops of the training photographs (never the parity ones).
    pool = [to_tensor(v) for k, v in photos().items() if k not in ADAIN_CONTENTS + (ADAIN_STYLE,)]
    gen = torch.Generator().manual_seed(0)
    crops = [random_crops(pool, 2, 128, gen) for _ in range(6)]
    with torch.no_grad():
        calib_feat = [[as_numpy(net.adain(net.encoder(c), s_mean, s_std, 1.0))] for c in crops]
    c = net.decoder[1].in_channels  # relu4_1 channels
    mods = modules(net)
    out = [
        Graph("encoder", mods["encoder"], {"frame": ("batch", "height", "width", 3)}, "features", [frames],
              [[as_frames(x)] for x in crops], {"height": 9, "width": 9}),
        Graph("decoder", mods["decoder"], {"features": ("batch", c, "fheight", "fwidth")}, "frame",
              [as_numpy(feat)], calib_feat, {"fheight": 2, "fwidth": 2}),
    ]
    if full:
        stats = ("batch", c, 1, 1)
        out.append(Graph("adain_full", net, {"content": ("batch", 3, "height", "width"), "style_mean": stats,
                                             "style_std": stats, "alpha": (1,)},
                         "image", [as_numpy(content), as_numpy(s_mean), as_numpy(s_std), as_numpy(alpha)], [],
                         {"height": 9, "width": 9}))
    return out

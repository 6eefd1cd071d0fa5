"""Models, checkpoint loading and the training loop (need torch: the export extra)."""

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from stylert.export import checkpoints  # noqa: E402
from stylert.export.checkpoints import CheckpointError, load_file, load_strict, save_atomic  # noqa: E402
from stylert.export.models import DEFAULTS, AdaINNet, AutoEncoder, load, load_reference  # noqa: E402
from stylert.export.models.adain import adain_losses  # noqa: E402
from stylert.export.data import digits  # noqa: E402
from stylert.export.train import ae as ae_recipe  # noqa: E402
from stylert.errors import UsageError  # noqa: E402
from stylert.export.train.loop import train  # noqa: E402

from layouts import DECODER_CONVS, VGG_CONVS, official  # noqa: E402

# --------------------------------------------------------------------------- autoencoder


def test_autoencoder_shapes():
    m = AutoEncoder(in_dim=64, hidden=[32, 16], latent=3).requires_grad_(False)
    x = torch.rand(5, 8, 8)
    assert m.encode(x).shape == (5, 3)
    assert m(x).shape == (5, 64)
    assert float(m(x).min()) >= 0 and float(m(x).max()) <= 1


def test_bundled_autoencoder_beats_pca_on_held_out_digits():
    model = load("ae")
    train_x, _, test_x, _ = digits(0)  # the split the default was trained on
    latent = model.config["latent"]
    ae_err, pca_err = ae_recipe.ae_mse(model, test_x), ae_recipe.pca_mse(train_x, test_x, latent)
    assert ae_err < 0.8 * pca_err, (ae_err, pca_err)


def test_autoencoder_training_reduces_loss_and_is_deterministic(tmp_path):
    torch.manual_seed(0)
    untrained = AutoEncoder(hidden=[32, 16])
    _, _, test_x, _ = digits(0)
    before = ae_recipe.ae_mse(untrained, test_x)
    runs = []
    for name in ("a", "b"):
        metrics = ae_recipe.run(tmp_path / name, steps=150, hidden=[32, 16], every=100)
        runs.append(torch.load(tmp_path / name / "ae.pt", weights_only=True)["state_dict"])
        assert metrics["test_mse_ae"] < 0.8 * before
    for k in runs[0]:
        assert torch.equal(runs[0][k], runs[1][k]), k
    assert (tmp_path / "a" / "ae.md").read_text().count("PCA") >= 1
    assert (tmp_path / "a" / "ae.png").stat().st_size > 1000


# --------------------------------------------------------------------------- training loop


def _toy_run(out, steps=40, interrupt_at=None, resume=False):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(1)
    target = torch.tensor([[1.0, -2.0, 0.5, 3.0]])

    def step_fn(step, g):
        if step == interrupt_at:
            raise KeyboardInterrupt
        x = torch.randn(16, 4, generator=g)
        loss = ((model(x) - x @ target.T) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    history = train(kind="toy", steps=steps, step_fn=step_fn, parts={"model": model, "opt": opt},
                    gen=gen, out=out, every=7, resume=resume, config={"lr": 0.05})
    return model, history


def test_interrupted_then_resumed_run_equals_uninterrupted(tmp_path):
    full, full_history = _toy_run(tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        _toy_run(tmp_path / "part", interrupt_at=23)
    assert torch.load(tmp_path / "part" / "toy.train.pt", weights_only=True)["step"] == 23
    resumed, history = _toy_run(tmp_path / "part", resume=True)
    assert len(history) == 40
    assert history[-1]["loss"] < history[0]["loss"] / 4
    for a, b in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
    assert [h["loss"] for h in history] == [h["loss"] for h in full_history]


def test_resume_with_more_steps_extends_the_run(tmp_path):
    full, full_history = _toy_run(tmp_path / "full")
    _toy_run(tmp_path / "short", steps=23)
    extended, history = _toy_run(tmp_path / "short", steps=40, resume=True)
    assert [h["loss"] for h in history] == [h["loss"] for h in full_history]
    for a, b in zip(full.parameters(), extended.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(UsageError, match="already at step 40"):
        _toy_run(tmp_path / "short", steps=30, resume=True)


def test_resume_refuses_a_different_run(tmp_path):
    _toy_run(tmp_path, steps=5)
    state = torch.load(tmp_path / "toy.train.pt", weights_only=True)
    state["config"] = {"lr": 1.0}
    torch.save(state, tmp_path / "toy.train.pt")
    with pytest.raises(CheckpointError, match="different run"):
        _toy_run(tmp_path, steps=5, resume=True)


# --------------------------------------------------------------------------- checkpoints


def test_strict_loading_lists_every_problem():
    m = AutoEncoder(hidden=[8], latent=2)
    state = m.state_dict()
    state.pop("encoder.0.bias")
    state["encoder.9.weight"] = torch.zeros(1)
    state["decoder.0.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointError) as err:
        load_strict(m, state, "ckpt.pt")
    msg = str(err.value)
    assert "missing 1: encoder.0.bias" in msg
    assert "unexpected 1: encoder.9.weight" in msg
    assert "mis-shaped 1: decoder.0.weight (3, 3) (expected (8, 2))" in msg
    assert "\n" not in msg


def test_load_file_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_file(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_file(junk)
    evil = tmp_path / "objects.pt"
    torch.save({"opt": io.BytesIO(b"x")}, evil)  # a Python object, not tensors
    with pytest.raises(CheckpointError, match="--unsafe-pickle"):
        load_file(evil)
    assert isinstance(load_file(evil, allow_pickle=True)["opt"], io.BytesIO)


def test_save_atomic_leaves_nothing_half_written(tmp_path, monkeypatch):
    target = tmp_path / "model.pt"
    save_atomic({"a": torch.ones(2)}, target)

    def boom(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints.torch, "save", boom)
    with pytest.raises(OSError):
        save_atomic({"a": torch.zeros(2)}, target)
    assert torch.equal(torch.load(target, weights_only=True)["a"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_load_rejects_wrong_kind_and_unknown_kind(tmp_path):
    with pytest.raises(CheckpointError, match="not 'adain'"):
        load("adain", DEFAULTS / "ae.pt")
    with pytest.raises(CheckpointError, match="unknown model kind"):
        load("vae")
    bare = tmp_path / "bare.pt"
    torch.save(AutoEncoder().state_dict(), bare)
    with pytest.raises(CheckpointError, match="not a stylert 'ae' checkpoint"):
        load("ae", bare)


# --------------------------------------------------------------------------- AdaIN

def test_adain_output_size_is_rounded_up_to_multiples_of_8():
    net = AdaINNet(width=0.125).eval()
    style = torch.rand(1, 3, 40, 40)
    for h, w in [(32, 32), (37, 50), (9, 9), (65, 17)]:
        out = net.stylize(torch.rand(2, 3, h, w), style)
        assert out.shape == (2, 3, 8 * -(-h // 8), 8 * -(-w // 8))
    with pytest.raises(ValueError, match="at least 9 pixels"):
        net.stylize(torch.rand(1, 3, 8, 30), style)
    with pytest.raises(ValueError, match="RGB batch"):
        net.stylize(torch.rand(3, 30, 30), style)


def test_reference_checkpoints_load_exactly(tmp_path):
    vgg, dec = official(VGG_CONVS, 0), official(DECODER_CONVS, 1)
    torch.save(vgg, tmp_path / "vgg_normalised.pth")
    torch.save(dec, tmp_path / "decoder_iter_160000.pth.tar")
    net = load_reference(tmp_path / "vgg_normalised.pth", tmp_path / "decoder_iter_160000.pth.tar")
    for k, v in net.encoder.state_dict().items():
        assert torch.equal(v, vgg[k])
    for k, v in net.decoder.state_dict().items():
        assert torch.equal(v, dec[k])
    # The network computes what the reference does: encoder[:31], AdaIN, decoder.
    x = torch.rand(1, 3, 24, 24)
    assert net.encoder(x).shape == (1, 512, 3, 3)


def test_reference_checkpoints_with_wrong_keys_are_refused(tmp_path):
    vgg, dec = official(VGG_CONVS, 0), official(DECODER_CONVS, 1)
    torch.save(vgg, tmp_path / "vgg.pth")
    bad_dec = dict(dec)
    bad_dec.pop("28.bias")
    bad_dec["14.weight"] = torch.zeros(128, 256, 1, 1)
    torch.save(bad_dec, tmp_path / "decoder.pth")
    with pytest.raises(CheckpointError) as err:
        load_reference(tmp_path / "vgg.pth", tmp_path / "decoder.pth")
    assert "missing 1: 28.bias" in str(err.value) and "14.weight" in str(err.value)
    # Swapped files: the decoder given as the VGG.
    torch.save(dec, tmp_path / "decoder_ok.pth")
    with pytest.raises(CheckpointError, match="VGG encoder"):
        load_reference(tmp_path / "decoder_ok.pth", tmp_path / "vgg.pth")


def test_adain_decoder_training_steps_reduce_the_loss():
    torch.manual_seed(0)
    net = AdaINNet(width=0.125)
    for p in net.encoder.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(net.decoder.parameters(), lr=1e-3)
    content, style = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    losses = []
    for _ in range(30):
        _, lc, ls = adain_losses(net, content, style)
        loss = lc + 10 * ls
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def test_adain_matches_the_fused_kernel():
    from stylert import adain

    net = AdaINNet(width=0.125).eval()
    feat = net.encoder(torch.rand(1, 3, 32, 32))
    s_mean, s_std = net.style_stats(torch.rand(1, 3, 48, 48))
    from stylert.export.ops import adain_from_stats

    want = adain_from_stats(feat, s_mean, s_std, 0.6).detach().numpy()
    got = adain.adain(feat.detach().numpy(), s_mean.detach().numpy(), s_std.detach().numpy(), alpha=0.6)
    np.testing.assert_allclose(got, want, atol=1e-4)



@pytest.mark.parametrize("damage", [
    lambda s: ["a list"],
    lambda s: {**s, "step": "23"},
    lambda s: {k: v for k, v in s.items() if k != "parts"},
    lambda s: {**s, "parts": {**s["parts"], "model": {"weight": torch.zeros(3, 3), "bias": torch.zeros(1)}}},
], ids=["a-list", "step-a-string", "no-parts", "weights-of-another-shape"])
def test_a_broken_training_state_is_one_error_line(tmp_path, damage):
    # before: AttributeError, TypeError, KeyError or a size-mismatch RuntimeError traceback
    from stylert.errors import CheckpointError

    _toy_run(tmp_path / "run", steps=14)
    path = tmp_path / "run" / "toy.train.pt"
    torch.save(damage(torch.load(path, weights_only=True)), path)
    with pytest.raises(CheckpointError, match="toy.train.pt"):
        _toy_run(tmp_path / "run", steps=20, resume=True)

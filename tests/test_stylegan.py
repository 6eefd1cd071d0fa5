"""StyleGAN generator: shapes, the port's checkpoint layout, and the inputs built outside forward."""

import math

import pytest

torch = pytest.importorskip("torch")

from stylert.export.checkpoints import CheckpointError  # noqa: E402
from stylert.export.models import StyleGAN, load, load_port  # noqa: E402

from layouts import port_layout, port_state  # noqa: E402


def test_full_network_has_exactly_the_ports_keys_and_shapes():
    model = StyleGAN(1024)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items() if k != "w_avg"}
    assert ours == port_layout(9)
    assert len(ours) == 139
    assert sum(p.numel() for p in model.parameters()) == 26_219_115


@pytest.mark.parametrize("size, fused_from", [(8, 5), (32, 5), (128, 5), (64, 2)])
def test_output_shapes(size, fused_from):
    blocks = int(math.log2(size)) - 1
    g = StyleGAN(size, channels=[16] * blocks, style_dim=32, n_mlp=2, fused_from=fused_from)
    z = torch.randn(3, 32)
    w = g.mapping(z)
    assert w.shape == (3, 32)
    img = g.synthesis(g.broadcast(w), g.make_noise(3, "random"))
    assert img.shape == (3, 3, size, size)


def test_port_checkpoint_loads_at_a_chosen_size(tmp_path):
    state = port_state(6)  # a checkpoint holding 4..128 (block 5 is fused)
    torch.save({"generator": port_state(6, seed=1), "g_running": state, "discriminator": {}}, tmp_path / "train_step-6.model")
    small = load("stylegan", tmp_path / "train_step-6.model", size=64)
    for k, v in small.state_dict().items():
        if k != "w_avg":
            assert torch.equal(v, state[k]), k  # g_running (the EMA weights) is the one used
    assert small.size == 64 and small.num_ws == 5
    assert float(small.w_avg.abs().sum()) > 0  # estimated, the port stores none
    torch.save(state, tmp_path / "010000.model")  # the trainer's bare periodic checkpoint
    full = load("stylegan", tmp_path / "010000.model", size=128)
    assert full(torch.randn(1, 512), full.make_noise(1, "none")).shape == (1, 3, 128, 128)


def test_port_checkpoint_problems_are_listed(tmp_path):
    state = port_state(4)
    with pytest.raises(CheckpointError, match="up to 32, not 64"):
        load_port(state, size=64)
    bad = dict(state)
    bad["generator.progression.1.conv1.conv.weight_orig"] = bad.pop("generator.progression.1.conv1.1.conv.weight_orig")
    bad["style.1.linear.bias"] = torch.zeros(7)
    with pytest.raises(CheckpointError) as err:
        load_port(bad, size=32)
    msg = str(err.value)
    assert "missing 1: generator.progression.1.conv1.1.conv.weight_orig" in msg
    assert "unexpected 1: generator.progression.1.conv1.conv.weight_orig" in msg
    assert "mis-shaped 1: style.1.linear.bias (7,)" in msg
    with pytest.raises(CheckpointError, match="not a style-based-gan-pytorch generator"):
        load_port({"decoder.1.weight": torch.zeros(1)}, size=32)


def test_equalized_learning_rate_scales():
    g = StyleGAN(8, channels=[8, 8], style_dim=4, n_mlp=1)
    lin = g.style[1].linear
    x = torch.randn(2, 4)
    torch.testing.assert_close(lin(x), x @ (lin.weight_orig * math.sqrt(2 / 4)).T + lin.bias)
    noise = g.generator.progression[0].noise1
    noise.weight_orig.data.fill_(1.0)
    img, n = torch.zeros(1, 8, 4, 4), torch.ones(1, 1, 4, 4)
    torch.testing.assert_close(noise(img, n), torch.full((1, 8, 4, 4), math.sqrt(2 / 8)))
    adain = g.generator.progression[0].adain1
    feat = torch.randn(2, 8, 4, 4)
    adain.style.linear.weight_orig.data.zero_()  # gamma = bias = 1, beta = 0
    torch.testing.assert_close(adain(feat, torch.randn(2, 4)), torch.nn.functional.instance_norm(feat))


def test_truncation_mixing_and_noise_modes():
    g = StyleGAN(16, channels=[8, 8, 8], style_dim=8, n_mlp=2).eval()
    g.estimate_w_avg(n=256)
    w = g.mapping(torch.randn(2, 8))
    torch.testing.assert_close(g.truncate(w, 0.0), g.w_avg.expand(2, -1))
    torch.testing.assert_close(g.truncate(w, 1.0), w)
    w2 = g.mapping(torch.randn(2, 8))
    ws = g.mix(w, w2, 1)
    assert torch.equal(ws[:, 0], w) and torch.equal(ws[:, 1], w2) and torch.equal(ws[:, 2], w2)
    with pytest.raises(ValueError, match="crossover"):
        g.mix(w, w2, 4)
    a, b = g.make_noise(2, "const"), g.make_noise(2, "const")
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and torch.equal(a[1][0], a[1][1])
    assert all(float(n.abs().sum()) == 0 for n in g.make_noise(1, "none"))
    with pytest.raises(ValueError, match="noise mode"):
        g.make_noise(1, "fresh")
    # forward holds no randomness: same inputs, same image.
    z, noise = torch.randn(2, 8), g.make_noise(2, "random", torch.Generator().manual_seed(3))
    assert torch.equal(g(z, noise, 0.7), g(z, noise, 0.7))


def test_bad_sizes():
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN(48)
    with pytest.raises(ValueError, match="needs 3 channel counts"):
        StyleGAN(16, channels=[8, 8])


def test_a_few_training_steps_run_and_write_the_default_files(tmp_path):
    from stylert.export.train import stylegan as recipe

    m = recipe.run(tmp_path, steps=4, size=16, channels=(16, 16, 8), style_dim=16, n_mlp=2, batch=4, every=2)
    assert {p.name for p in tmp_path.iterdir()} == {"stylegan.pt", "stylegan.md", "stylegan.png", "stylegan.train.pt"}
    assert m["swd_real_vs_real"] < m["swd_untrained"]
    model = load("stylegan", tmp_path / "stylegan.pt")
    assert model.size == 16 and float(model.w_avg.abs().sum()) > 0  # EMA of w travelled with it


def test_critic_and_penalty_shapes():
    from stylert.export.train.stylegan import Discriminator, gradient_penalty, sliced_wasserstein

    d = Discriminator(16, [16, 16, 8])
    x = torch.randn(5, 3, 16, 16)
    assert d(x).shape == (5,)
    gp = gradient_penalty(d, x, torch.randn(5, 3, 16, 16), torch.Generator().manual_seed(0))
    assert gp.dim() == 0 and float(gp.detach()) >= 0
    a, b = torch.rand(40, 3, 16, 16), torch.rand(40, 3, 16, 16)  # one distribution
    assert sliced_wasserstein(a, b) < 0.2 * sliced_wasserstein(a, b * 0.1)


def test_cli_rejects_bad_stylegan_settings(capsys):
    from stylert.cli import main

    assert main(["train", "stylegan", "--size", "48", "--steps", "1"]) == 2
    assert "power of two" in capsys.readouterr().err

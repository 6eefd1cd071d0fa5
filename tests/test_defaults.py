"""The bundled defaults: they load, pass the objective checks their cards report, and
reproduce the committed pictures."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from stylert.export.models import DEFAULTS, load  # noqa: E402

KINDS = [k for k in ("ae", "adain", "stylegan") if (DEFAULTS / f"{k}.pt").exists()]


def test_every_default_is_bundled_with_card_and_picture():
    assert KINDS == ["ae", "adain", "stylegan"]
    for kind in KINDS:
        assert (DEFAULTS / f"{kind}.md").stat().st_size > 200
        assert (DEFAULTS / f"{kind}.png").stat().st_size > 1000
    total = sum(p.stat().st_size for p in DEFAULTS.glob("*.pt"))
    assert total < 20 * 2**20  # the bundled weights stay small


def _same_picture(made: np.ndarray, committed: Path):
    ref = cv2.imread(str(committed))
    assert made.shape == ref.shape
    # Identical on the machine that trained it; allow for float differences elsewhere.
    assert np.abs(made.astype(np.int16) - ref).mean() < 1.0


def test_ae_default_picture():
    from stylert.export.data import digits
    from stylert.export.train import ae

    _, _, test_x, test_y = digits(0)
    _same_picture(ae.manifold_picture(load("ae"), test_x, test_y), DEFAULTS / "ae.png")


@pytest.mark.skipif("adain" not in KINDS, reason="no AdaIN default yet")
def test_adain_default_moves_colours_and_keeps_structure():
    from stylert.export.train import adain

    net = load("adain")
    m = adain.evaluate(net)
    # Colours most of the way to the style; edges far above an unrelated image's (~0.03)
    # (the distilled student: 0.73 and 0.44; the random-encoder default before it: 0.71, 0.30).
    assert m["colour_distance_moved"] > 0.6, m
    assert m["edge_correlation"] > 0.38 > 3 * max(m["edge_correlation_style_vs_content"], 0.05), m
    _same_picture(adain.sheet(net), DEFAULTS / "adain.png")


HELD_OUT = Path(__file__).parent / "assets" / "held_out"  # styles no recipe trained on (NOTICE.md)


def test_adain_default_stylises_held_out_pairs():
    """The bundled package as `stylert live` runs it (int8) on held-out contents (china,
    flower) and styles, judged in hand-made features it was not trained with (the figures of
    benchmarks/quality.py; its committed results are on full-size held-out images)."""
    from sklearn.datasets import load_sample_images

    from stylert import Stylizer
    from stylert.export.quality import figures, fit

    st = Stylizer(precision="int8")
    rows = []
    for content in load_sample_images().images:  # china, flower (RGB)
        content = fit(cv2.cvtColor(content, cv2.COLOR_RGB2BGR), 256)
        for style_path in sorted(HELD_OUT.glob("*.jpg")):
            style = cv2.imread(str(style_path))
            st.set_style(cv2.cvtColor(style, cv2.COLOR_BGR2RGB))
            out = st.frame(content, (content.shape[1] // 8 * 8, content.shape[0] // 8 * 8))
            rows.append(figures(content, out, style))
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    assert len(rows) == 4
    # Floors under what the bundled default (the student after its fourth stage) measured here:
    # colour 0.908, texture 0.772, structure 0.491 (worst 0.358). The third-stage student before
    # it (0.921, 0.758, 0.468, worst 0.333) fails them on texture and structure (it moved colour a
    # little further on these four pairs: the colour floor is under the new one's, not raised).
    # The second-stage student (0.909, 0.761, 0.479) fails on texture and structure, the first
    # (0.86, 0.78, 0.43) on colour and structure, the random-encoder default (0.79, 0.76, 0.33)
    # on all three. An unrelated image keeps structure ~0.03.
    assert mean["colour_moved"] > 0.90, mean
    assert mean["texture_moved"] > 0.765, mean
    assert mean["structure_kept"] > 0.48, mean
    assert min(r["structure_kept"] for r in rows) > 0.34, rows  # every picture still shows its content


@pytest.mark.skipif("stylegan" not in KINDS, reason="no StyleGAN default yet")
def test_stylegan_default_beats_an_untrained_generator():
    from stylert.export.models import StyleGAN
    from stylert.export.train import stylegan

    gen = load("stylegan")
    train, held = stylegan.digits_images(gen.size, 0)
    torch.manual_seed(0)
    untrained = StyleGAN(**gen.config).eval()
    n = len(held)
    trained_swd = stylegan.sliced_wasserstein(held, stylegan.generate(gen, n, 1))
    untrained_swd = stylegan.sliced_wasserstein(held, stylegan.generate(untrained, n, 1))
    assert trained_swd < 0.5 * untrained_swd, (trained_swd, untrained_swd)
    _same_picture(stylegan.sample_grid(gen, 0), DEFAULTS / "stylegan.png")

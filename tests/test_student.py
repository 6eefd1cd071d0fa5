"""The student recipe runs end to end and its checkpoint is an ordinary lite AdaIN one
(a random teacher stands in for VGG-16 HED, whose weights CI does not have)."""

import pytest

torch = pytest.importorskip("torch")

from stylert.export.models import load  # noqa: E402
from stylert.export.train import student  # noqa: E402


def test_a_few_steps_distill_then_train_the_decoder(tmp_path):
    torch.set_num_threads(1)
    m = student.run(tmp_path, steps=4, distill_steps=2, size=32, batch=1, every=2, recon_weight=100.0,
                    random_teacher=True)
    assert m["final_distill_loss"] > 0 and m["final_content_loss"] > 0
    net = load("adain", tmp_path / "adain.pt")
    assert net.config["width"] == 0.25 and "encoder" not in net.config  # the bundled default's shape
    assert (tmp_path / "adain.md").read_text().startswith("# Model card: AdaIN real-time student")
    assert "pixel MSE of the decoder inverting the content's own" in (tmp_path / "adain.md").read_text()  # phase 2's
    again = student.run(tmp_path, steps=4, distill_steps=2, size=32, batch=1, every=2, recon_weight=100.0,
                        random_teacher=True, resume=True)  # the same run resumed from adain-student.train.pt: nothing left to do
    assert again["final_content_loss"] == m["final_content_loss"]


def test_distillation_must_leave_decoder_steps(tmp_path):
    from stylert.errors import UsageError

    with pytest.raises(UsageError, match="--distill-steps"):
        student.run(tmp_path, steps=4, distill_steps=4, random_teacher=True)


def test_phase_two_from_a_checkpoint_with_the_extra_terms(tmp_path):
    """--init: phase 2 continues an existing student (no phase 1, its encoder unchanged);
    the structure and colour terms train and the card names them."""
    torch.set_num_threads(1)
    student.run(tmp_path / "a", steps=3, distill_steps=2, size=32, batch=1, every=3, random_teacher=True)
    m = student.run(tmp_path / "b", steps=2, size=32, batch=1, every=2, init=str(tmp_path / "a" / "adain.pt"),
                    structure_weight=10.0, colour_weight=100.0, random_teacher=True)
    assert m["final_content_loss"] > 0
    a, b = load("adain", tmp_path / "a" / "adain.pt"), load("adain", tmp_path / "b" / "adain.pt")
    assert all(torch.equal(x, y) for x, y in zip(a.encoder.state_dict().values(), b.encoder.state_dict().values()))
    assert any(not torch.equal(x, y) for x, y in zip(a.decoder.state_dict().values(), b.decoder.state_dict().values()))
    text = (tmp_path / "b" / "adain.md").read_text()
    assert "phase 1 skipped" in text and "structure loss" in text and "colour loss" in text


def test_phase_two_can_switch_the_decoder_to_bilinear_upsampling(tmp_path):
    """--upsample bilinear from a nearest checkpoint: the same weights fine-tuned, the mode kept
    in the checkpoint's config (so loading and export rebuild it) and named on the card."""
    torch.set_num_threads(1)
    student.run(tmp_path / "a", steps=3, distill_steps=2, size=32, batch=1, every=3, random_teacher=True)
    student.run(tmp_path / "b", steps=1, size=32, batch=1, every=1, init=str(tmp_path / "a" / "adain.pt"),
                upsample="bilinear", random_teacher=True)
    net = load("adain", tmp_path / "b" / "adain.pt")
    assert net.config["upsample"] == "bilinear"
    assert [m.mode for m in net.decoder if isinstance(m, torch.nn.Upsample)] == ["bilinear"] * 3
    assert "with bilinear x2 upsampling" in (tmp_path / "b" / "adain.md").read_text()
    assert "upsample" not in load("adain", tmp_path / "a" / "adain.pt").config  # the default stays out

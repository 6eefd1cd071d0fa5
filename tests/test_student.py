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

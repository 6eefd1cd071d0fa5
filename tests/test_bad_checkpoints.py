"""Files that are no usable checkpoint, given to `stylert export --checkpoint`: one line of
stylert's own (never torch's advice to retry with weights_only=False), no package folder."""

import argparse
import zipfile

import numpy as np
import pytest

from badinput import assert_user_error, leftovers, run_cli

torch = pytest.importorskip("torch")


def plain_zip(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("notes.txt", "a zip, but no torch.save")


def wrong_model(path):  # the bundled ae checkpoint with a latent size its weights do not have
    from stylert.export.models import DEFAULTS

    ck = torch.load(DEFAULTS / "ae.pt", weights_only=True)
    ck["config"]["latent"] += 1
    torch.save(ck, path)


UNREADABLE = "not a readable PyTorch checkpoint"


@pytest.mark.parametrize("make, fragments", [
    pytest.param(lambda p: p.write_bytes(b"\x80\x02e."), [UNREADABLE], id="pickle-header-only"),
    pytest.param(lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)), [UNREADABLE], id="random-bytes"),
    pytest.param(lambda p: p.write_bytes(b""), [UNREADABLE], id="empty"),
    pytest.param(plain_zip, [UNREADABLE], id="zip-not-torch"),
    pytest.param(lambda p: torch.save({"epoch": 3, "lr": 0.1, "note": "no tensors"}, p), ["not a stylert 'ae'"],
                 id="dict-of-non-tensors"),
    pytest.param(wrong_model, ["does not match AutoEncoder", "mis-shaped"], id="state-dict-of-another-model"),
    pytest.param(lambda p: torch.save({"args": argparse.Namespace(lr=0.1)}, p), ["--unsafe-pickle"],
                 id="needs-a-custom-class"),
    pytest.param(lambda p: p.mkdir(), ["is a folder, not a checkpoint file"], id="a-folder"),
])
def test_bad_checkpoint_is_refused(tmp_path, make, fragments):
    make(tmp_path / "a.pth")
    done = run_cli(["export", "ae", "--checkpoint", "a.pth", "-o", "out"], tmp_path)
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []
    assert "weights_only" not in done.stderr, done.stderr
    assert_user_error(done, "a.pth", *fragments)

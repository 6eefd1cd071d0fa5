"""The house: model families in one record each, the backend registry and its Choice, the one
error channel, exclusive publishing, and the small guards of the Stylizer."""

import logging

import numpy as np
import pytest

from stylert import Stylizer, families, package
from stylert.backends import AUTO_ORDER, REGISTRY, Choice, choose, reasons
from stylert.backends.tensorrt import cuda_device
from stylert.errors import FolderError, ImageError, StylertError
from stylert.folders import building


@pytest.mark.parametrize("kind", families.KINDS)
def test_each_family_record_names_real_pieces(kind):
    f = families.get(kind)
    assert package.KINDS[kind] == f.graphs
    assert f.pipeline_class().kind == kind and callable(families.resolve(f.bench))
    model = f.model_module()  # the export side: torch
    assert all(callable(getattr(model, name)) for name in ("MODEL", "modules", "graphs", "io_rules"))
    assert set(f.ranges) >= {"batch", "height", "width"}
    if f.triton:
        assert callable(families.resolve(f.triton))


def test_unknown_kind_is_a_user_error():
    with pytest.raises(StylertError, match="unknown model kind 'gan'"):
        families.get("gan")


def test_registry_holds_the_auto_order_with_a_reason_for_each_skip():
    assert AUTO_ORDER == ("tensorrt", "onnxruntime-tensorrt", "onnxruntime-cuda", "onnxruntime-cpu", "torch")
    assert set(REGISTRY) == set(reasons())
    chosen, skipped = choose("auto")
    why = reasons()  # true on any machine: the first backend that can run, each one before it said
    assert chosen == next(b for b in AUTO_ORDER if not why[b]) and why["onnxruntime-cpu"] == ""
    for before in AUTO_ORDER[:AUTO_ORDER.index(chosen)]:
        assert f"{before}: {why[before]}" in skipped
    if cuda_device() is None:  # here and in CI
        assert chosen == "onnxruntime-cpu" and "onnxruntime-cuda:" in skipped
        assert "onnxruntime-tensorrt: ONNX Runtime's TensorRT provider does not load here" in skipped


def test_choice_is_a_record_and_one_line():
    c = Choice("onnxruntime-cpu", "int8", "cpu", "skipped tensorrt: TensorRT is not installed")
    assert str(c) == "backend: onnxruntime-cpu, int8 (skipped tensorrt: TensorRT is not installed)"
    st = Stylizer(backend="onnxruntime-cpu", precision="int8")
    assert (st.choice.backend, st.choice.precision, st.choice.device) == ("onnxruntime-cpu", "int8", "cpu")
    assert st.backend == "onnxruntime-cpu"


def test_a_second_writer_of_the_same_folder_is_refused_not_silently_replacing(tmp_path):
    out = tmp_path / "pkg"
    with pytest.raises(FolderError, match="written meanwhile"):
        with building(out, force=False) as first:
            (first / "a").write_text("first run")
            with building(out, force=False) as second:  # another run, started at the same time
                (second / "a").write_text("second run")
            # the second published first; the first must not replace it
    assert (out / "a").read_text() == "second run"
    assert [p.name for p in tmp_path.iterdir()] == ["pkg"]  # no partial folders left


def test_force_replaces_at_publish_time(tmp_path):
    out = tmp_path / "pkg"
    for text in ("old", "new"):
        with building(out, force=True) as tmp:
            (tmp / "a").write_text(text)
    assert (out / "a").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["pkg"]


def test_empty_frames_and_masks_are_image_errors():
    st = Stylizer()
    st.set_style(np.full((32, 32, 3), 128, np.uint8), background=np.zeros((32, 32, 3), np.uint8))
    for frames in (np.zeros((0, 0, 3), np.uint8), np.zeros((2, 0, 5, 3), np.uint8), np.zeros((0, 3, 8, 8), np.float32)):
        with pytest.raises(ImageError, match="empty"):
            st(frames)
    with pytest.raises(ImageError, match="mask"):
        st(np.zeros((16, 16, 3), np.uint8), mask=np.zeros((0, 0), np.uint8))


def test_a_mask_of_another_size_is_stretched_and_said_once(caplog):
    st = Stylizer()
    st.set_style(np.full((32, 32, 3), 200, np.uint8), background=np.zeros((32, 32, 3), np.uint8))
    frame, mask = np.zeros((24, 32, 3), np.uint8), np.full((12, 16), 255, np.uint8)
    with caplog.at_level(logging.WARNING, logger="stylert"):
        for _ in range(3):
            assert st(frame, mask=mask).shape == frame.shape
        st(frame, mask=np.full((24, 32), 255, np.uint8))  # the frame's size: nothing to say
    said = [r.getMessage() for r in caplog.records if "stretched" in r.getMessage()]
    assert said == ["mask is 16x12, the frame 32x24: the mask is stretched to the frame"]

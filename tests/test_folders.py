"""Where stylert writes: outputs with the user's umask, caches under an absolute folder."""

import os
import stat

import pytest

from stylert import folders


def test_a_built_folder_gets_the_users_umask(tmp_path):
    # Before: mkdtemp's 0700 was renamed into place, so a Triton server or another user
    # could not read an exported package or bundle under a normal umask.
    old = os.umask(0o022)
    try:
        with folders.building(tmp_path / "pkg", False) as tmp:
            (tmp / "stylert.json").write_text("{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "pkg").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "pkg" / "stylert.json").stat().st_mode) == 0o644


def test_the_cache_is_absolute_and_ignores_a_relative_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.delenv("STYLERT_CACHE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid by the XDG spec: before, used as is
    root = folders.cache_root()
    assert root.is_absolute() and "relative" not in str(root)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert folders.cache_root() == tmp_path / "xdg" / "stylert"
    monkeypatch.setenv("STYLERT_CACHE", "rel")
    assert folders.cache_root() == tmp_path / "rel"


def test_the_export_side_uses_the_same_cache(monkeypatch, tmp_path):
    """The teacher's weights and the Debian images (stylert.export) live under the runtime's
    cache folder, relative XDG_CACHE_HOME ignored there too (before: a folder in the working
    directory)."""
    pytest.importorskip("torch")
    from stylert.export import vgg16_hed

    monkeypatch.delenv("STYLERT_CACHE", raising=False)
    monkeypatch.chdir(tmp_path)
    for xdg in ("relative/cache", str(tmp_path / "xdg")):
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
        assert vgg16_hed.cache_root() == folders.cache_root()

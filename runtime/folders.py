"""Output folders written whole or not at all (packages, bundles): everything goes into a
temporary folder beside the destination, which replaces it only at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator


class FolderError(Exception):
    """The output folder cannot be used; the message says why and what to do."""


def check(out: Path, force: bool) -> None:
    """Refuses an ``out`` that is a file, or a non-empty folder without ``force``."""
    if out.exists() and not out.is_dir():
        raise FolderError(f"{out} exists and is not a folder: choose another output folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FolderError(f"{out} exists and is not empty: pass --force to replace it, or choose another folder")


def staging(out: Path, force: bool) -> Path:
    """Checks ``out``, creates its parent, and returns an empty temporary folder beside it
    to write into."""
    check(out, force)
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FolderError(f"cannot create {out}: {e.strerror} ({e.filename})") from None
    if not os.access(parent, os.W_OK):
        raise FolderError(f"cannot write to {parent}: choose a writable output folder")
    tmp = parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
    except OSError as e:
        raise FolderError(f"cannot write to {parent}: {e.strerror}") from None
    return tmp


def publish(tmp: Path, out: Path) -> None:
    """Moves the finished ``tmp`` into place; an existing ``out`` is removed only now."""
    old = None
    if out.exists():
        old = out.resolve().parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def building(out: Path, force: bool) -> Iterator[Path]:
    """``with building(out, force) as tmp:`` write into ``tmp``; it replaces ``out`` when the
    block ends normally and is removed either way (``staging`` refuses a bad ``out`` first)."""
    tmp = staging(out, force)
    try:
        yield tmp
        publish(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

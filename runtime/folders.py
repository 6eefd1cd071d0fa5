"""Outputs written whole or not at all. Folders (packages, bundles, Triton repositories):
everything goes into a temporary folder beside the destination, which takes its place only
at the end, and never replaces another run's output unless --force says so. Files:
``atomic_write`` (a temporary name, then a rename)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator, Union

from .errors import FolderError


def atomic_write(path: Union[str, os.PathLike], data: Union[bytes, str]) -> None:
    """Writes ``data`` to ``path`` through a temporary file in the same folder, so the path
    holds the old content or the new, never half of it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def check_name(path: Union[str, os.PathLike]) -> None:
    """Refuses, before the work, an output name no file can have: a symbolic link that loops,
    or a name too long for the file system, or too long for the temporary name stylert writes
    beside it (.NAME.PID.tmp, .NAME.partial-PID-XXXXXXXX): a FolderError saying so."""
    what = describe(path)
    if what in ("a symbolic link that loops", "a name too long for this file system"):
        raise FolderError(f"cannot write {path}: it is {what}: choose another name")
    name = len(os.fsencode(Path(path).name))
    folder = Path(os.path.abspath(path)).parent
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # (no pathconf on Windows)
        name_max = 255
    if name > name_max - TEMPORARY_NAME_ROOM:
        raise FolderError(f"cannot write {path}: its name is {name} bytes, and this file system takes "
                          f"{name_max - TEMPORARY_NAME_ROOM} with the temporary name beside it: choose a shorter name")


TEMPORARY_NAME_ROOM = 32  # bytes that temporary names add to an output's (see check_name)


def check_report(path: Union[str, os.PathLike, None]) -> None:
    """Refuses, before the work, a report path that could not be written after it: a folder,
    or a file in a folder that is missing or not writable."""
    if not path:
        return
    check_name(path)
    path = Path(path)
    if _in_place(path) and not path.is_dir():
        if os.path.exists(path):  # a device, a pipe, a file behind a link: written through
            if not os.access(path, os.W_OK):
                raise FolderError(f"cannot write {path}: permission denied: name a file that can be written")
            return
        path = Path(os.path.realpath(path))  # a link to a file not made yet: judged as that file
    folder = path.parent
    if path.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
        why = ("is a folder" if path.is_dir() else f"its folder {folder} does not exist" if not folder.is_dir()
               else f"its folder {folder} is not writable")
        raise FolderError(f"cannot write {path}: {why}: name a file in a folder that exists and can be written")


def _in_place(path: Union[str, os.PathLike]) -> bool:
    """Whether ``path`` is written through rather than replaced: a link (/dev/stdout, or one
    to a file elsewhere) or a device or pipe (/dev/null). Replacing it by a rename would put
    a regular file where the device or link was (as root, /dev/null itself)."""
    try:
        return os.path.islink(path) or not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:  # not there (yet): the atomic write makes it
        return False


def write_report(path: Union[str, os.PathLike], text: Union[str, bytes]) -> None:
    """A report (JSON, markdown, PNG) the user named, written atomically (a device such as
    /dev/stdout, or a link, is written through); a path that cannot be written (a folder, a
    missing folder, no permission, a full disk) is one FolderError."""
    try:
        if _in_place(path):
            with open(path, "wb") as f:
                f.write(text.encode() if isinstance(text, str) else text)
        else:
            atomic_write(path, text)
    except OSError as e:
        raise FolderError(f"cannot write {path}: {e.strerror or e}: name a file in a folder that exists "
                          f"and can be written") from None


def check(out: Path, force: bool) -> None:
    """Refuses an ``out`` that is a file, or a non-empty folder without ``force``."""
    check_name(out)
    if out.exists() and not out.is_dir():
        raise FolderError(f"{out} exists and is not a folder: choose another output folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FolderError(f"{out} exists and is not empty: pass --force to replace it, or choose another folder")


def staging(out: Path, force: bool) -> Path:
    """Checks ``out``, creates its parent, and returns an empty temporary folder beside it
    to write into."""
    check(out, force)
    parent = Path(os.path.realpath(out)).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FolderError(f"cannot create {out}: {e.strerror} ({e.filename})") from None
    if not os.access(parent, os.W_OK):
        raise FolderError(f"cannot write to {parent}: choose a writable output folder")
    try:  # a name of its own: two runs (or threads) never share a staging folder
        tmp = Path(tempfile.mkdtemp(prefix=_partial_prefix(out), dir=parent))
    except OSError as e:
        raise FolderError(f"cannot write to {parent}: {e.strerror}") from None
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it 0700: the output gets the user's umask, as mkdir would
    return tmp


def _umask() -> int:
    try:  # Linux says it; elsewhere it is read by setting it and putting it back at once
        with open("/proc/self/status") as f:
            return int(next(line.split()[1] for line in f if line.startswith("Umask:")), 8)
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def publish(tmp: Path, out: Path, force: bool = False) -> None:
    """Moves the finished ``tmp`` into place. Without ``force`` the rename itself is the
    check (it only replaces a missing or empty folder, atomically), so of two runs writing
    the same destination the second is refused, never silently replacing the first. With
    ``force`` an existing ``out`` is moved aside only now, and removed after."""
    if not force:
        try:
            os.rename(tmp, out)
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                raise FolderError(f"{out} was written meanwhile (by another run?): pass --force to replace "
                                  f"it, or choose another folder") from None
            raise
        return
    old = None
    if out.exists():
        old = Path(os.path.realpath(out)).parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def building(out: Path, force: bool) -> Iterator[Path]:
    """``with building(out, force) as tmp:`` write into ``tmp``; it replaces ``out`` when the
    block ends normally and is removed either way (``staging`` refuses a bad ``out`` first)."""
    tmp = None
    try:  # entered before the staging folder exists, so Ctrl-C or SIGTERM at any point cleans up
        tmp = staging(out, force)
        yield tmp
        publish(tmp, out, force)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:  # interrupted inside staging, between mkdtemp and the assignment: ours by the pid
            for leftover in Path(os.path.realpath(out)).parent.glob(_partial_prefix(out) + "*"):
                shutil.rmtree(leftover, ignore_errors=True)


def _partial_prefix(out: Path) -> str:
    return f".{out.name}.partial-{os.getpid()}-"


def describe(path: Union[str, os.PathLike]) -> str:
    """What is at ``path`` (links followed), for an error line: 'a file', 'a folder', 'a character
    device', 'a named pipe (FIFO)', 'a symbolic link that loops', ...; '' when nothing is there."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symbolic link that loops"
        if e.errno == errno.ENAMETOOLONG:
            return "a name too long for this file system"
        return "a symbolic link to nothing" if os.path.islink(path) else ""
    for test, what in ((stat.S_ISREG, "a file"), (stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "not a regular file"


def xdg_cache_home() -> str:
    """$XDG_CACHE_HOME, or ~/.cache where it is unset or relative (the XDG spec: a relative
    path is invalid and must be ignored)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return xdg if os.path.isabs(xdg) else os.path.expanduser("~/.cache")


def cache_root() -> Path:
    """stylert's cache folder (engines, backend verdicts): $STYLERT_CACHE, else the XDG cache."""
    return Path(os.environ.get("STYLERT_CACHE") or os.path.join(xdg_cache_home(), "stylert")).absolute()


def quiet_onnxruntime_telemetry() -> None:
    """ONNX Runtime keeps a telemetry device id under $XDG_CACHE_HOME or ~/.cache
    (Microsoft/DeveloperTools/.onnxruntime) and prints a coloured warning line on every load where
    that cannot be written (HOME read-only, missing, or a file). There its telemetry is turned off
    for this process, before onnxruntime is imported, so a command prints only its own lines; an
    ORT_DISABLE_TELEMETRY the user set is kept."""
    if os.environ.get("ORT_DISABLE_TELEMETRY"):
        return
    there = os.path.abspath(os.path.join(xdg_cache_home(), "Microsoft", "DeveloperTools", ".onnxruntime"))
    while not os.path.lexists(there) and os.path.dirname(there) != there:
        there = os.path.dirname(there)  # the nearest folder that exists: ORT makes the rest
    if not (os.path.isdir(there) and os.access(there, os.W_OK | os.X_OK)):
        os.environ["ORT_DISABLE_TELEMETRY"] = "1"


@contextlib.contextmanager
def locked(path: Path):
    """An exclusive lock on ``path`` (a .lock file), so two processes never build the same
    cache entry at once; the second waits and then finds it there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        if os.name == "nt":
            import msvcrt
            msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)
        else:
            import fcntl
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if os.name != "nt":
                import fcntl
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

"""The one error channel: every mistake a user can fix is a StylertError.

The CLI catches StylertError once and prints its message as one line (exit 2); anything
else is a bug and keeps its traceback. Each room raises its own subclass, so a caller can
tell a bad package from a bad image, and every message names the problem and the fix.
"""

from __future__ import annotations


def one_line(text: str) -> str:
    """``text`` as one line: line breaks and other control characters (in a file name, say)
    written as escapes, so an error stays the one line a script can read."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in str(text))


class StylertError(Exception):
    """A mistake the user can fix: its message is one line naming the thing and the fix."""

    exit_code = 2


class UsageError(StylertError, ValueError):
    """An argument or option out of range (also a ValueError, for library callers)."""


class PackageError(StylertError):
    """A model package that cannot be used."""


class BackendError(StylertError):
    """The asked-for backend cannot run here, or failed its check."""


class ImageError(StylertError, ValueError):
    """An image, frame or mask that cannot be used."""


class VideoError(StylertError):
    """A video source or sink that cannot be used."""


class FolderError(StylertError):
    """An output folder or file that cannot be written."""


class TensorRTError(StylertError):
    """TensorRT cannot do what was asked here."""


class BenchError(StylertError):
    """Benchmark options that do not fit together."""


class CheckpointError(StylertError):
    """A checkpoint file that cannot be loaded."""


class ExportError(StylertError):
    """An export that cannot be made as asked."""


class TritonError(StylertError):
    """A Triton model repository that cannot be written as asked."""


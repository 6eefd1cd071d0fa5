"""The `stylert` command line: each app in stylert.apps adds its own subcommand; this module
assembles them and is the one place that turns errors into exit codes.

A user's mistake (any StylertError) ends in one line on stderr naming the problem and the
fix, exit code 2; anything else is a bug and keeps its traceback. SIGTERM is handled like
Ctrl-C, so every command finalizes or removes what it was writing either way.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import threading
from typing import List, Optional

from . import __version__
from .apps import app_modules, remove_unused_outputs
from .errors import StylertError, UsageError, one_line
from .images import MAX_PIXELS_PROBLEM


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stylert", description="Edge inference runtime for generative vision models.")
    p.add_argument("--version", action="version", version=f"stylert {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for module in app_modules():
        importlib.import_module(module).add_parser(sub)
    return p


def _terminate(signum, frame):
    raise KeyboardInterrupt  # the same unwinding as Ctrl-C: finally blocks clean up


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # recorded in model cards
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    main_thread = threading.current_thread() is threading.main_thread()  # signals: main thread only
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        if MAX_PIXELS_PROBLEM:
            raise UsageError(MAX_PIXELS_PROBLEM)
        code = args.func(args)
        sys.stdout.flush()  # a closed or full stdout shows here, where it is handled, not at exit
        return code
    except StylertError as e:
        print(f"stylert: error: {one_line(e)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("stylert: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (stylert ... | head): end quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141  # 128 + SIGPIPE, what a shell reports for a tool its pipe ended
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise  # anything else is a bug: its traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # stdout may be what is full
        print(f"stylert: error: no space left to write {e.filename or 'the output'}: free some space",
              file=sys.stderr)
        return 2
    finally:
        remove_unused_outputs()
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())

"""Video I/O. base.py: the Source and Sink interfaces; sources.py (and browser.py): what a
--source names; sinks.py: the registry of output kinds (display.py, http.py, files.py,
null.py) and the Composite the apps write to; capture.py: the capture thread; uri.py: source
URIs. Frames are uint8 HWC BGR here, and only here."""

from .base import Sink, Source, burn_status
from .capture import Capture, Frame
from .display import DisplaySink, display_problem
from .sinks import KINDS, Composite, check_sink, check_sinks, open_sink, open_sinks
from .sources import DemoSource, open_source

__all__ = ["KINDS", "Capture", "Composite", "DemoSource", "DisplaySink", "Frame", "Sink", "Source", "burn_status",
           "check_sink", "check_sinks", "display_problem", "open_sink", "open_sinks", "open_source"]

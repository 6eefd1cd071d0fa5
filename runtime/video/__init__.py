"""Video I/O: URIs (uri.py), sources and sinks (sources.py, sinks.py), the capture and
writer threads (capture.py). Frames are uint8 HWC BGR here, and only here."""

from .capture import Capture, Frame, Writer
from .sinks import DisplaySink, Sink, check_sink, display_problem, open_sink
from .sources import DemoSource, Source, open_source

__all__ = ["Capture", "DemoSource", "DisplaySink", "Frame", "Sink", "Source", "Writer", "check_sink",
           "display_problem", "open_sink", "open_source"]

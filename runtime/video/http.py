"""The ``http://HOST:PORT/`` output: an MJPEG stream any browser (or OBS, VLC, ffplay) can watch.

``HttpSink("127.0.0.1", 8080)`` binds its port once, when it is opened (before the first
frame: a viewer may connect while the pipeline starts, and waits for the first frame), and serves:

* ``GET /``            a small page: the title, the stream, and the heads-up line (``/hud``,
                        re-read once a second); it falls back to re-reading ``/frame.jpg`` when
                        the stream does not load
* ``GET /stream.mjpg`` the frames as ``multipart/x-mixed-replace; boundary=frame``
* ``GET /frame.jpg``   the newest frame as one JPEG
* ``GET /hud``         the newest heads-up text (``text/plain``, set by ``status()``)

``write()`` encodes the frame once, keeps only the newest JPEG, wakes the viewers and returns:
it never waits on a viewer. Each viewer has its own thread that sends the newest frame as
soon as it has sent the previous one, so a slow viewer skips frames (nothing is queued) and
never slows the pipeline or the other viewers. Only the standard library (http.server,
threading) and cv2.imencode are used.

The server side (TrackedHandler, Served, bind_problem) is shared with the browser camera
source (browser.py). The bind rule: the sink listens on exactly the address it is given. Loopback
(127.0.0.1, ``[::1]``, localhost) is the default and is only reachable from this machine; to
watch from another machine (a Jetson streaming to a laptop) write the LAN address out
(``http://192.168.1.20:8080/``), or ``http://0.0.0.0:8080/`` for every interface. The stream
is unauthenticated: whoever can reach the address can watch it.
"""

from __future__ import annotations

import errno
import html
import ipaddress
import re
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional, Set, Tuple
from urllib.parse import urlsplit

import cv2
import numpy as np

from ..errors import VideoError
from .base import Sink

SCHEME = "http"
EXAMPLE = "http://127.0.0.1:8080/ (MJPEG and a page; binds only the address written)"
DEFAULT_PORT = 8080
BOUNDARY = "frame"
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def url_of(host: str, port: int) -> str:
    """``http://HOST:PORT/`` (IPv6 addresses in brackets)."""
    return f"http://{_hostport(host, port)}/"


def parse(url: str) -> Tuple[str, int]:
    """``(host, port)`` of an ``http://HOST:PORT/`` output; raises VideoError for anything else.

    The path must be ``/`` or empty, the host is required (a name, an IPv4 address or an IPv6
    address in brackets: ``http://[::1]:8080/``), the port defaults to 8080 (0: any free port).

    Bind rule: the sink binds exactly the host written here, nothing wider. Use loopback
    (``http://127.0.0.1:8080/``, the default) to watch on this machine only; to be watched
    from another machine the LAN address must be written out explicitly
    (``http://192.168.1.20:8080/``), or ``http://0.0.0.0:8080/`` for every interface.
    """
    example = f"e.g. --output http://127.0.0.1:{DEFAULT_PORT}/"
    if not isinstance(url, str) or not url.strip():
        raise VideoError(f"--output {url!r}: an HTTP stream is http://HOST:PORT/, {example}")
    text = url.strip()
    if text.lower().startswith("https://"):
        raise VideoError(f"--output {text}: the stream is served over plain http (no TLS): "
                         f"write http://, {example}")
    if not text.lower().startswith("http://"):
        raise VideoError(f"--output {text}: an HTTP stream is http://HOST:PORT/, {example}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        netloc = text[len("http://"):].split("/", 1)[0]
        if netloc.count(":") > 1 and "[" not in netloc:
            raise VideoError(f"--output {text}: write an IPv6 address in brackets, "
                             f"e.g. --output http://[::1]:{DEFAULT_PORT}/") from None
        raise VideoError(f"--output {text}: bad host or port ({e}): the port is a number 0-65535, "
                         f"{example}") from None
    if parts.username is not None or parts.password is not None:
        raise VideoError(f"--output {text}: the stream takes no user or password, {example}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or text.endswith(("?", "#")):
        raise VideoError(f"--output {text}: the stream is served at the root; "
                         f"write no path, e.g. --output {url_of(parts.hostname or '127.0.0.1', port or DEFAULT_PORT)}")
    host = parts.hostname or ""
    if not host:
        raise VideoError(f"--output {text}: name the address to serve on "
                         f"(127.0.0.1 for this machine only), {example}")
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise VideoError(f"--output {text}: [{host}] is not an IPv6 address, "
                             f"e.g. --output http://[::1]:{DEFAULT_PORT}/") from None
    elif not _NAME.match(host):
        raise VideoError(f"--output {text}: {host!r} is not a host name or address, {example}")
    return host, DEFAULT_PORT if port is None else port


def check(uri: str) -> None:
    """The address must be well formed; whether the port is free is told by open(), which
    binds it (checking by binding would free it again for anyone to take)."""
    parse(uri)


def open(uri: str, fps: float = 30.0, title: str = "stylert live") -> "HttpSink":
    return HttpSink(*parse(uri), title=title)


# ----------------------------------------------------------------------------- page
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
 html, body {{ margin: 0; background: #111; color: #ddd; font: 15px system-ui, sans-serif; }}
 main {{ max-width: 100%; padding: 12px 16px; box-sizing: border-box; }}
 h1 {{ font-size: 17px; font-weight: 600; margin: 0 0 10px; color: #fff; }}
 #live {{ display: block; max-width: 100%; max-height: calc(100vh - 90px); background: #000; }}
 #hud {{ font: 13px ui-monospace, Menlo, Consolas, monospace; margin-top: 8px; color: #9c9;
        white-space: pre-wrap; min-height: 1.3em; }}
</style></head>
<body><main>
<h1>{title}</h1>
<img id="live" src="stream.mjpg" alt="live stream">
<div id="hud">{hud}</div>
</main>
<script>
(function () {{
  var img = document.getElementById("live"), hud = document.getElementById("hud"), polling = false;
  function poll() {{  // fallback: the newest single frame, re-read as fast as it comes
    var next = new Image();
    next.onload = function () {{ img.src = next.src; setTimeout(poll, 60); }};
    next.onerror = function () {{ setTimeout(poll, 1000); }};
    next.src = "frame.jpg?t=" + Date.now();
  }}
  function fallback() {{ if (!polling) {{ polling = true; poll(); }} }}
  img.onerror = fallback;
  setTimeout(function () {{ if (!img.naturalWidth) fallback(); }}, 1500);
  function text() {{
    fetch("hud", {{cache: "no-store"}}).then(function (r) {{ return r.ok ? r.text() : null; }})
      .then(function (t) {{ if (t !== null) hud.textContent = t; }}, function () {{}});
  }}
  setInterval(text, 1000);
}})();
</script>
</body></html>
"""


# ----------------------------------------------------------------------------- server
class TrackedHandler(BaseHTTPRequestHandler):
    """What stylert's small servers (this MJPEG sink, the browser camera source) share: each
    connection registered with the server's owner (``server.sink._enter/_leave``, so close()
    can end it), no request log (the app prints its own summary), one-shot responses."""

    server_version = "stylert"
    sys_version = ""

    def setup(self):
        super().setup()
        self.server.sink._enter(self.connection)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.sink._leave(self.connection)

    def log_message(self, format, *args):
        pass

    def _send(self, code: int, ctype: str, body: bytes, cache: bool = False):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if not cache:
            self.send_header("Cache-Control", "no-store, no-cache, must-revalidate")
            self.send_header("Pragma", "no-cache")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Handler(TrackedHandler):
    protocol_version = "HTTP/1.0"   # one response per connection; the stream ends with it
    timeout = 30.0                  # a viewer that takes nothing for this long is dropped

    def do_GET(self):
        sink: HttpSink = self.server.sink
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if path in ("/", "/index.html"):
            self._send(200, "text/html; charset=utf-8", sink._page())
        elif path == "/stream.mjpg":
            self._stream(sink)
        elif path == "/frame.jpg":
            jpeg = sink._wait_first(sink.first_frame_wait_s)
            if jpeg is None:
                self._send(503, "text/plain; charset=utf-8", b"no frame yet\n")
            else:
                self._send(200, "image/jpeg", jpeg)
        elif path == "/hud":
            self._send(200, "text/plain; charset=utf-8", sink.text.encode("utf-8"))
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try / or /stream.mjpg\n")

    def do_HEAD(self):
        path = self.path.split("?", 1)[0]
        if path == "/stream.mjpg":
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.end_headers()
        else:
            self.do_GET()

    def _stream(self, sink: "HttpSink"):
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store, no-cache, must-revalidate")
        self.send_header("Pragma", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        seq = 0
        with sink._cond:
            sink.viewers += 1
        try:
            while True:
                with sink._cond:  # wait for a frame newer than the one sent last
                    sink._cond.wait_for(lambda: sink._closing or sink._seq != seq, timeout=1.0)
                    if sink._closing:
                        return
                    if sink._seq == seq:
                        continue
                    jpeg, seq = sink._jpeg, sink._seq
                head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\n\r\n").encode("ascii")
                self.wfile.write(head + jpeg + b"\r\n")  # outside the lock: only this viewer waits
        except OSError:  # the viewer left (or close() shut the connection)
            self.close_connection = True
        finally:
            with sink._cond:
                sink.viewers -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False   # HttpSink.close joins the viewer threads itself, with a deadline
    allow_reuse_address = True

    def server_bind(self):
        # HTTPServer.server_bind resolves the host's FQDN (a DNS round trip that can take
        # seconds on a LAN without DNS): bind only, and keep the name as written.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError) or self.sink._closing:
            return  # a viewer that went away is not an error
        super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


def bind_problem(where: str, host: str, port: int, e: OSError, example, default: int) -> str:
    """Why a server could not listen on host:port, and the fix; ``example(host, port)`` writes
    the option that would name another address (e.g. "--output http://127.0.0.1:8081/"),
    ``default`` is the server's usual port."""
    if isinstance(e, socket.gaierror):
        return f"{where}: unknown host {host}: write an address of this machine, e.g. {example('127.0.0.1', port)}"
    if e.errno == errno.EADDRINUSE:
        nxt = port + 1 if 0 < port < 65535 else default
        return f"{where}: address already in use: choose another port ({example(host, nxt)})"
    if e.errno == errno.EADDRNOTAVAIL:
        return (f"{where}: {host} is not an address of this machine: use 127.0.0.1 (this machine only) "
                f"or one of its LAN addresses (see `ip addr`)")
    if e.errno == errno.EACCES:
        return f"{where}: permission denied (ports below 1024 need root): choose a port such as {default}"
    if e.errno == errno.EAFNOSUPPORT:
        return f"{where}: IPv6 is not available here: use an IPv4 address such as 127.0.0.1"
    return f"{where}: {e.strerror or e}: choose another address or port"


class Served:
    """The owner's side of a TrackedHandler server (HttpSink, BrowserSource): the open
    connections and their threads, kept under ``_cond`` so that close() can end them. The
    owner sets ``_cond``, ``_closing``, ``_conns``, ``_threads``, ``_server`` and ``_thread``."""

    def _enter(self, conn: socket.socket) -> None:
        with self._cond:
            if self._closing:  # accepted during close(): end it at once
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            self._conns.add(conn)
            self._threads.add(threading.current_thread())

    def _leave(self, conn: socket.socket) -> None:
        with self._cond:
            self._conns.discard(conn)
            self._threads.discard(threading.current_thread())

    def _stop_serving(self) -> None:
        """Stops serving: open connections end, threads are joined (about 2 s at most)."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        deadline = time.monotonic() + 2.0
        self._server.shutdown()        # the accept loop ends (within its 0.1 s poll)
        self._server.server_close()    # the listening socket is closed
        with self._cond:
            conns, threads = list(self._conns), list(self._threads)
        for c in conns:                # wakes handlers blocked in a send to a stalled client
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(max(0.0, deadline - time.monotonic()))
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))


class HttpSink(Served, Sink):
    """Serves the written frames as MJPEG on ``http://HOST:PORT/`` (see the module doc).

    ``port=0`` picks a free port; ``.port`` and ``.url`` tell which. Binds only ``host``.
    ``write(frame)`` (uint8 HxWx3 BGR, or HxW gray) encodes once and returns at once;
    ``status(str)`` sets the heads-up line shown under the picture; ``close()`` ends the
    viewers' connections and joins the server threads.
    """

    def __init__(self, host: str, port: int, title: str = "stylert live", quality: int = 80):
        if not isinstance(host, str) or not host.strip("[] "):
            raise VideoError(f"HttpSink: name the address to serve on (127.0.0.1 for this machine only), "
                             f"e.g. --output http://127.0.0.1:{DEFAULT_PORT}/")
        host = host.strip().strip("[]")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise VideoError(f"HttpSink: port {port!r} is not 0-65535: "
                             f"e.g. --output {url_of(host, DEFAULT_PORT)}")
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise VideoError(f"HttpSink: JPEG quality {quality!r} is not 1-100: use e.g. 80")
        self.host, self.title, self.quality = host, str(title), quality
        self.text = ""
        self.frames = 0          # frames written
        self.viewers = 0         # /stream.mjpg connections now open
        self.first_frame_wait_s = 2.0  # /frame.jpg before the first write waits this long, then 503
        self._jpeg: Optional[bytes] = None
        self._seq = 0
        self._cond = threading.Condition()
        self._closing = False
        self._conns: Set[socket.socket] = set()
        self._threads: Set[threading.Thread] = set()
        self._params = [int(cv2.IMWRITE_JPEG_QUALITY), quality]
        server_cls = _Server6 if ":" in host else _Server
        try:
            self._server = server_cls((host, port), _Handler)
        except OSError as e:
            raise VideoError(bind_problem(f"cannot serve {url_of(host, port)}", host, port, e,
                                          lambda h, p: f"--output {url_of(h, p)}", DEFAULT_PORT)) from None
        self._server.sink = self
        self.port = int(self._server.server_address[1])
        self.url = url_of(host, self.port)
        self.name = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"stylert-http-{self.port}", daemon=True)
        self._thread.start()

    # -------------------------------------------------------------- the pipeline side
    def write(self, frame: np.ndarray, tag=None) -> None:
        """Encodes ``frame`` once, keeps it as the newest and wakes the viewers; never waits on them."""
        if self._closing:
            return
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim not in (2, 3) \
                or (frame.ndim == 3 and frame.shape[2] not in (1, 3)) or frame.size == 0:
            desc = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise VideoError(f"{self.name}: a frame is uint8 HxWx3 BGR, got {desc}")
        ok, buf = cv2.imencode(".jpg", frame, self._params)
        if not ok:
            raise VideoError(f"{self.name}: OpenCV could not encode a {frame.shape} frame as JPEG")
        jpeg = buf.tobytes()
        with self._cond:
            self._jpeg = jpeg
            self._seq += 1
            self.frames += 1
            self._cond.notify_all()

    def status(self, text: str) -> None:
        """The heads-up line shown under the picture (as text; the frames carry no overlay)."""
        self.text = str(text)

    @property
    def serving(self) -> str:
        return f"serving {self.url} (MJPEG: any browser, or OBS's media source)"

    @property
    def is_open(self) -> bool:
        return not self._closing

    @property
    def jpeg(self) -> Optional[bytes]:
        """The newest encoded frame (None before the first write)."""
        return self._jpeg

    def close(self) -> None:
        """Stops serving: viewers' connections end, threads are joined (about 2 s at most)."""
        self.closed = True
        self._stop_serving()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"HttpSink({self.url!r}, viewers={self.viewers}, frames={self.frames})"

    # -------------------------------------------------------------- the server side
    def _wait_first(self, timeout: float) -> Optional[bytes]:
        with self._cond:
            self._cond.wait_for(lambda: self._closing or self._jpeg is not None, timeout=timeout)
            return self._jpeg

    def _page(self) -> bytes:
        return _PAGE.format(title=html.escape(self.title), hud=html.escape(self.text)).encode("utf-8")

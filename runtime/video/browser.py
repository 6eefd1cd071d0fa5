"""A browser's camera as a source, its stylization sent back to the same page.

``BrowserSource("127.0.0.1", 8554)`` (``--source browser://127.0.0.1:8554``) serves:

* ``GET /``    a page that opens the visitor's camera (getUserMedia), sends its frames and
               draws the stylized ones that come back, with the FPS and the camera-to-screen
               latency it measures itself (frame captured in the page -> its stylization drawn)
* ``GET /ws``  a WebSocket (RFC 6455, written here on the standard library): the page sends
               binary messages ``<frame id: uint32 LE><JPEG>``; results come back on the same
               connection in the same form, with the page's own id, so the page can time them;
               text messages (JSON) carry the heads-up line and refusals.

Latest frame wins, both ways. Each page has one waiting slot on the server: a frame that
arrives while the pipeline is busy replaces the waiting one (counted as dropped), and the
pipeline takes the newest frame when it is ready (``pull``: no reader thread, so no extra
frame of delay). Several pages share the pipeline: the frame that has waited longest goes
first, and each result goes back only to the page that sent its frame. Results are sent by
one thread per page that sends the newest one as soon as the previous one is out: a slow page
skips results and never stalls the pipeline or the other pages. The page itself sends a frame
only when the previous one has left its socket.

Bind rule as for the MJPEG sink (http.py): exactly the address written, loopback by default.
Browsers give a page the camera only on a secure origin, which ``http://127.0.0.1`` and
``http://localhost`` are: to use a camera on another machine, forward the port over SSH
(``ssh -L 8554:127.0.0.1:8554 host``) rather than binding a LAN address. Pages from other
origins are refused (the Origin header must name this server). Frames are checked before
decoding (JPEG, size within the pixel limit); a malformed one gets one refusal message and
the connection keeps serving.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import socket
import struct
import threading
import time
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit

import cv2
import numpy as np

from ..errors import VideoError
from ..limits import MAX_PIXELS
from .base import Sink, Source
from .http import _NAME, Served, TrackedHandler, _Server, _Server6, bind_problem, url_of

log = logging.getLogger("stylert")
DEFAULT_PORT = 8554  # jetson-utils' webrtc:// port
MAX_MESSAGE = 16 << 20
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def parse(text: str) -> Tuple[str, int]:
    """``(host, port)`` of ``browser://HOST:PORT``; ``browser://`` is 127.0.0.1:8554."""
    example = f"e.g. --source browser://127.0.0.1:{DEFAULT_PORT}"
    rest = text[len("browser://"):]
    try:
        parts = urlsplit("http://" + rest)
        port = parts.port
    except ValueError as e:
        raise VideoError(f"--source {text}: bad host or port ({e}): {example}") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username is not None:
        raise VideoError(f"--source {text}: the page is served at the root; write browser://HOST:PORT, {example}")
    host = parts.hostname or "127.0.0.1"
    if "[" not in parts.netloc and not _NAME.match(host):
        raise VideoError(f"--source {text}: {host!r} is not a host name or address, {example}")
    return host, DEFAULT_PORT if port is None else port


def jpeg_size(data: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) from a JPEG's frame header, read before decoding (None: not a JPEG)."""
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > len(data):
                return None
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return (w, h) if w and h else None
        i += 2 + length
    return None


# ----------------------------------------------------------------------------- one page
class _Client:
    """One connected page: its waiting frame (in), its newest result (out), its socket."""

    def __init__(self, cid: int, conn: socket.socket):
        self.cid, self.conn = cid, conn
        self.waiting: Optional[Tuple[np.ndarray, int, int]] = None   # image, page's frame id, arrival ns
        self.result: Optional[Tuple[int, bytes]] = None                 # page's frame id, JPEG
        self.result_seq = 0
        self.send_lock = threading.Lock()
        self.gone = False
        self.received = self.replaced = self.refused = self.sent = 0

    def send(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        head = bytes([0x80 | opcode])
        head += bytes([n]) if n < 126 else (bytes([126]) + struct.pack(">H", n) if n < 65536
                                             else bytes([127]) + struct.pack(">Q", n))
        with self.send_lock:
            self.conn.sendall(head + payload)

    def text(self, obj) -> None:
        self.send(0x1, json.dumps(obj).encode("utf-8"))


class _Handler(TrackedHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30.0  # a page that sends nothing (not even half a frame) for this long is dropped

    def do_GET(self):
        src: BrowserSource = self.server.sink
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(200, "text/html; charset=utf-8", _PAGE.encode("utf-8"))
        elif path == "/ws":
            self._websocket(src)
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: open /\n")

    do_HEAD = do_GET

    # ---------------------------------------------------------------- WebSocket
    def _websocket(self, src: "BrowserSource"):
        key = self.headers.get("Sec-WebSocket-Key", "")
        if self.headers.get("Upgrade", "").lower() != "websocket" or not key \
                or self.headers.get("Sec-WebSocket-Version") != "13":
            self._send(400, "text/plain; charset=utf-8", b"a WebSocket (version 13) is expected here\n")
            return
        origin = self.headers.get("Origin")
        if origin and urlsplit(origin).netloc.lower() != (self.headers.get("Host") or "").lower():
            self._send(403, "text/plain; charset=utf-8", b"pages from other origins may not use this camera server\n")
            return
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode("ascii")).digest()).decode("ascii")
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = src._join(self.connection)
        sender = threading.Thread(target=src._send_loop, args=(client,), daemon=True,
                                  name=f"stylert-browser-send-{client.cid}")
        sender.start()
        try:
            self._receive(src, client)
        except (OSError, ConnectionError):
            pass  # the page left, mid-frame or not
        finally:
            src._part(client)
            sender.join(2.0)

    def _read(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if len(data) < n:
            raise ConnectionError("the page left mid-message")
        return data

    def _receive(self, src: "BrowserSource", client: _Client):
        parts, first_op = [], 0
        while not src._closing:
            b0, b1 = self._read(2)
            fin, op, masked, n = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack(">H", self._read(2))
            elif n == 127:
                (n,) = struct.unpack(">Q", self._read(8))
            if not masked:
                return self._close(client, 1002, "client frames must be masked")
            if n > MAX_MESSAGE or sum(map(len, parts)) + n > MAX_MESSAGE:
                return self._close(client, 1009, f"a frame is at most {MAX_MESSAGE >> 20} MiB")
            mask = self._read(4)
            payload = np.frombuffer(self._read(n), np.uint8) if n else np.zeros(0, np.uint8)
            if n:
                payload = (payload ^ np.resize(np.frombuffer(mask, np.uint8), n)).tobytes()
            else:
                payload = b""
            if op == 0x8:  # close: answered, then the connection ends
                return self._close(client, 1000, "")
            if op == 0x9:
                client.send(0xA, payload)
                continue
            if op == 0xA:
                continue
            if op in (0x1, 0x2):
                parts, first_op = [payload], op
            elif op == 0x0 and parts:
                parts.append(payload)
            else:
                return self._close(client, 1002, f"unexpected WebSocket opcode {op}")
            if not fin:
                continue
            message, parts = b"".join(parts), []
            if first_op == 0x1:
                client.text({"refused": None, "reason": "send frames as binary messages: <uint32 id><JPEG>"})
                continue
            src._arrive(client, message)

    def _close(self, client: _Client, code: int, reason: str):
        try:
            client.send(0x8, struct.pack(">H", code) + reason.encode("utf-8")[:120])
        except OSError:
            pass


# ----------------------------------------------------------------------------- source and sink
class BrowserSource(Served, Source):
    """Pages' cameras as one live source (see the module doc). ``port=0``: any free port;
    ``.url`` says which. ``poll(timeout)`` gives ``(image, tag, arrival_ns)`` or None;
    ``sinks`` holds the sink that sends results back to the pages (``write`` with the frame's tag)."""

    live = True
    pull = True   # capture.Capture takes frames when the loop is ready: no reader thread
    fps = 30.0

    def __init__(self, host: str, port: int, quality: int = 80):
        self.host = host.strip("[]")
        self.text, self.quality = "", quality
        self.frames = self.dropped = self.refused = 0
        self._cond = threading.Condition()
        self._clients: Dict[int, _Client] = {}
        self._next = 0
        self._closing = False
        self._conns, self._threads = set(), set()
        cls = _Server6 if ":" in self.host else _Server
        try:
            self._server = cls((self.host, port), _Handler)
        except OSError as e:
            raise VideoError(bind_problem(f"cannot serve the camera page on {url_of(self.host, port)}", self.host,
                                          port, e, lambda h, p: f"--source browser://{h}:{p}", DEFAULT_PORT)) from None
        self._server.sink = self
        self.port = int(self._server.server_address[1])
        self.url = url_of(self.host, self.port)
        self.name = f"browser://{self.url[len('http://'):].rstrip('/')}"
        self.sinks = [BrowserSink(self)]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"stylert-browser-{self.port}", daemon=True)
        self._thread.start()

    @property
    def clients(self) -> int:
        return len(self._clients)

    # ------------------------------------------------------------ pipeline side
    def poll(self, timeout: float) -> Optional[Tuple[np.ndarray, Tuple[int, int], int]]:
        """The frame that has waited longest among the pages' newest ones, or None after
        ``timeout`` seconds (or once closed)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closing:
                ready = [c for c in self._clients.values() if c.waiting is not None]
                if ready:
                    c = min(ready, key=lambda c: c.waiting[2])
                    img, fid, t_ns = c.waiting
                    c.waiting = None
                    self.frames += 1
                    return img, (c.cid, fid), t_ns
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
        return None

    def read(self):
        got = self.poll(1e9)
        return None if got is None else got[0]

    def set_text(self, text: str) -> None:
        self.text = str(text)

    def close(self) -> None:
        self._stop_serving()

    def __repr__(self):
        return f"BrowserSource({self.url!r}, clients={self.clients}, frames={self.frames})"

    # ------------------------------------------------------------ server side
    def _join(self, conn) -> _Client:
        with self._cond:
            self._next += 1
            c = self._clients[self._next] = _Client(self._next, conn)
            return c

    def _part(self, c: _Client) -> None:
        with self._cond:
            c.gone = True
            c.waiting = None
            self._clients.pop(c.cid, None)
            self._cond.notify_all()

    def _arrive(self, c: _Client, message: bytes) -> None:
        """A page's frame: checked, decoded (on this page's thread), then its waiting slot."""
        t_ns = time.perf_counter_ns()
        fid = struct.unpack("<I", message[:4])[0] if len(message) >= 4 else None
        img, why = None, ""
        size = jpeg_size(message[4:]) if fid is not None else None
        if fid is None:
            why = "a frame is <uint32 id><JPEG>; this message is shorter than its id"
        elif size is None:
            why = "not a JPEG (a frame is <uint32 id><JPEG>)"
        elif size[0] * size[1] > MAX_PIXELS:
            why = f"{size[0]}x{size[1]} is above the limit of {MAX_PIXELS} pixels"
        else:
            img = cv2.imdecode(np.frombuffer(message, np.uint8, offset=4), cv2.IMREAD_COLOR)
            if img is None or img.shape[1::-1] != size:
                img, why = None, f"the JPEG ({size[0]}x{size[1]}) does not decode"
        if img is None:
            c.refused += 1
            with self._cond:
                self.refused += 1
            log.warning("%s: refused frame %s from page %d: %s", self.name, fid, c.cid, why)
            c.text({"refused": fid, "reason": why})
            return
        with self._cond:
            c.received += 1
            if c.waiting is not None:
                c.replaced += 1
                self.dropped += 1
            c.waiting = (img, fid, t_ns)
            self._cond.notify_all()

    def _result(self, tag, jpeg: bytes) -> None:
        cid, fid = tag
        with self._cond:
            c = self._clients.get(cid)
            if c is None:
                return
            c.result = (fid, jpeg)
            c.result_seq += 1
            self._cond.notify_all()

    def _send_loop(self, c: _Client) -> None:
        seq, text_sent, text_at = 0, None, 0.0
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._closing or c.gone or c.result_seq != seq, timeout=1.0)
                    if self._closing or c.gone:
                        return
                    if c.result_seq == seq:
                        continue
                    (fid, jpeg), seq = c.result, c.result_seq
                c.send(0x2, struct.pack("<I", fid) + jpeg)
                c.sent += 1
                now = time.monotonic()
                if self.text != text_sent and now - text_at > 0.5:
                    text_sent, text_at = self.text, now
                    c.text({"hud": text_sent})
        except OSError:
            pass


class BrowserSink(Sink):
    """Sends each result back to the page whose frame it is (the frame's ``tag``); encodes once.
    Not opened from an --output: the source makes it, and the app adds it to its outputs."""

    def __init__(self, source: BrowserSource):
        self.source, self.name = source, source.name
        self._params = [int(cv2.IMWRITE_JPEG_QUALITY), source.quality]

    def write(self, frame: np.ndarray, tag=None) -> None:
        if tag is None:
            return  # a frame without a page to go back to
        ok, buf = cv2.imencode(".jpg", frame, self._params)
        if not ok:
            raise VideoError(f"{self.name}: OpenCV could not encode a {frame.shape} frame as JPEG")
        self.source._result(tag, buf.tobytes())

    def status(self, text: str) -> None:
        self.source.set_text(text)

    @property
    def serving(self) -> str:
        return f"camera page at {self.source.url} (open it in a browser; it sends its camera here)"


def open_browser(text: str) -> BrowserSource:
    return BrowserSource(*parse(text))


# ----------------------------------------------------------------------------- page
_PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>stylert: your camera, stylized</title>
<style>
 html, body { margin: 0; background: #111; color: #ddd; font: 15px system-ui, sans-serif; }
 main { padding: 12px 16px; }
 h1 { font-size: 17px; font-weight: 600; margin: 0 0 10px; color: #fff; }
 #row { display: flex; gap: 10px; align-items: flex-start; flex-wrap: wrap; }
 #out { background: #000; max-width: 100%; }
 #cam { width: 160px; background: #000; }
 #stats, #hud, #status { font: 13px ui-monospace, Menlo, Consolas, monospace; margin-top: 6px; }
 #stats { color: #9c9; } #hud { color: #888; } #status { color: #e96; min-height: 1.2em; }
</style></head>
<body><main>
<h1>stylert: your camera, stylized</h1>
<div id="row"><canvas id="out" width="640" height="480"></canvas><video id="cam" muted playsinline></video></div>
<div id="stats">waiting for the camera</div>
<div id="hud"></div>
<div id="status"></div>
</main>
<script>
(function () {
  "use strict";
  var S = window.stylert = {drawn: 0, sent: 0, refused: 0, lat: [], fps: 0, status: "", hud: "", size: null};
  var out = document.getElementById("out"), ctx = out.getContext("2d"), cam = document.getElementById("cam");
  var stats = document.getElementById("stats"), hudEl = document.getElementById("hud"), st = document.getElementById("status");
  var grab = document.createElement("canvas"), gctx = grab.getContext("2d");
  var times = new Map(), nextId = 0, encoding = false, ws = null, pending = null, decoding = false, draws = [];
  function say(t) { S.status = t; st.textContent = t; }
  function median(a) { if (!a.length) return NaN; var b = a.slice().sort(function (x, y) { return x - y; }); return b[b.length >> 1]; }
  function connect() {
    ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    ws.binaryType = "arraybuffer";
    ws.onopen = function () { say(""); };
    ws.onclose = function () { say("disconnected from stylert: retrying"); setTimeout(connect, 1000); };
    ws.onmessage = function (ev) {
      if (typeof ev.data === "string") {
        var m = JSON.parse(ev.data);
        if (m.hud !== undefined) { S.hud = m.hud; hudEl.textContent = "server: " + m.hud; }
        if (m.refused !== undefined) { S.refused++; say("frame refused: " + m.reason); }
        return;
      }
      pending = ev.data;           // latest result wins: an undrawn older one is dropped
      if (!decoding) show();
    };
  }
  function show() {
    var data = pending; pending = null;
    if (!data) return;
    decoding = true;
    var id = new DataView(data).getUint32(0, true);
    createImageBitmap(new Blob([data.slice(4)], {type: "image/jpeg"})).then(function (bmp) {
      if (out.width !== bmp.width || out.height !== bmp.height) { out.width = bmp.width; out.height = bmp.height; }
      ctx.drawImage(bmp, 0, 0);
      bmp.close && bmp.close();
      var now = performance.now(), t = times.get(id);
      times.forEach(function (v, k) { if (k <= id) times.delete(k); });
      if (t !== undefined) { S.lat.push(now - t); if (S.lat.length > 600) S.lat.shift(); }
      S.drawn++; draws.push(now); while (draws.length && now - draws[0] > 2000) draws.shift();
      S.fps = draws.length > 1 ? 1000 * (draws.length - 1) / (now - draws[0]) : 0;
      stats.textContent = S.fps.toFixed(1) + " FPS   camera-to-screen " + median(S.lat.slice(-30)).toFixed(0) +
        " ms (median of the last 30)   " + out.width + "x" + out.height;
    }, function () { say("a result did not decode"); }).then(function () { decoding = false; if (pending) show(); });
  }
  function send(tCapture) {
    // latest frame wins: nothing is queued behind a frame still on its way
    if (!ws || ws.readyState !== 1 || ws.bufferedAmount > 0 || encoding || !cam.videoWidth) return;
    var w = cam.videoWidth, h = cam.videoHeight, k = Math.min(1, 640 / w);
    grab.width = Math.round(w * k); grab.height = Math.round(h * k);
    gctx.drawImage(cam, 0, 0, grab.width, grab.height);
    encoding = true;
    var id = (++nextId) >>> 0;
    times.set(id, tCapture);
    grab.toBlob(function (blob) {
      encoding = false;
      if (!blob || ws.readyState !== 1) return;
      var head = new ArrayBuffer(4); new DataView(head).setUint32(0, id, true);
      ws.send(new Blob([head, blob])); S.sent++;
    }, "image/jpeg", 0.8);
  }
  function loop() {
    if (cam.requestVideoFrameCallback) {
      var each = function (now, meta) { send(meta && meta.captureTime ? meta.captureTime : performance.now()); cam.requestVideoFrameCallback(each); };
      cam.requestVideoFrameCallback(each);
    } else {
      var tick = function () { send(performance.now()); requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    }
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say("no camera access here: browsers give the camera only to secure pages; open this page as " +
        "http://127.0.0.1:PORT or http://localhost:PORT (from another machine: ssh -L PORT:127.0.0.1:PORT host)");
    stats.textContent = "no camera";
    return;
  }
  connect();
  navigator.mediaDevices.getUserMedia({video: {width: {ideal: 640}, height: {ideal: 480}}, audio: false})
    .then(function (stream) {
      cam.srcObject = stream; cam.play(); stats.textContent = "camera on, waiting for stylert"; loop();
    }, function (e) {
      stats.textContent = "no camera";
      say(e && e.name === "NotAllowedError" ? "camera permission denied: allow the camera for this page and reload" :
          "no camera: " + (e && e.name ? e.name + ": " + e.message : e));
    });
})();
</script>
</body></html>
"""

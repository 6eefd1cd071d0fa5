"""The MJPEG-over-HTTP sink (stylert.video.http), with real HTTP clients on 127.0.0.1 only.

Every wait is bounded (socket timeouts, deadlines, joins with timeouts): a broken sink fails
a test, it never hangs the run."""

import http.client
import socket
import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from stylert.errors import VideoError
from stylert.video.http import HttpSink, parse

HOST = "127.0.0.1"
TIMEOUT = 5.0


@pytest.fixture
def sink():
    s = HttpSink(HOST, 0, title="test <live>")
    yield s
    s.close()


def frame(i: int, w: int = 160, h: int = 120) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (i * 37 % 256, i * 11 % 256, 200)
    cv2.putText(img, str(i), (10, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    return img


def get(s: HttpSink, path: str):
    with urllib.request.urlopen(s.url + path.lstrip("/"), timeout=TIMEOUT) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


class Feeder:
    """Writes distinct frames from another thread until stopped."""

    def __init__(self, s: HttpSink, period: float = 0.02):
        self.s, self.period, self.stop, self.n = s, period, threading.Event(), 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            self.s.write(frame(self.n))
            self.n += 1
            self.stop.wait(self.period)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(TIMEOUT)


def open_stream(s: HttpSink) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(HOST, s.port, timeout=TIMEOUT)
    conn.request("GET", "/stream.mjpg")
    r = conn.getresponse()
    assert r.status == 200
    assert r.getheader("Content-Type") == "multipart/x-mixed-replace; boundary=frame"
    return r


def read_part(r) -> bytes:
    """One part of the multipart stream, read by boundary and Content-Length."""
    line = r.readline()
    while line in (b"\r\n", b"\n"):
        line = r.readline()
    assert line.rstrip(b"\r\n") == b"--frame", line
    headers = {}
    while True:
        line = r.readline()
        assert line, "stream ended inside a part's headers"
        if line in (b"\r\n", b"\n"):
            break
        k, _, v = line.decode("ascii").partition(":")
        headers[k.strip().lower()] = v.strip()
    assert headers["content-type"] == "image/jpeg"
    n = int(headers["content-length"])
    data = r.read(n)
    assert len(data) == n
    assert r.read(2) == b"\r\n"
    return data


def read_parts(r, count: int, deadline_s: float = 8.0):
    parts, t_end = [], time.monotonic() + deadline_s
    while len(set(parts)) < count:
        assert time.monotonic() < t_end, f"only {len(set(parts))} distinct frames in {deadline_s} s"
        parts.append(read_part(r))
    return parts


def decode(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a JPEG"
    return img


# ----------------------------------------------------------------------------- serving
def test_binds_only_the_given_address_and_picks_a_free_port(sink):
    assert sink.port > 0
    assert sink.url == f"http://127.0.0.1:{sink.port}/"
    assert sink.name == sink.url
    assert sink._server.socket.getsockname()[:2] == (HOST, sink.port)


def test_page_is_html_with_the_stream(sink):
    sink.status("12.0 FPS <ae>")
    status, ctype, body = get(sink, "/")
    page = body.decode("utf-8")
    assert status == 200 and ctype.startswith("text/html")
    assert '<img id="live" src="stream.mjpg"' in page
    assert "<title>test &lt;live&gt;</title>" in page          # the title, escaped
    assert "12.0 FPS &lt;ae&gt;" in page                        # the heads-up line as text
    assert 'fetch("hud"' in page and "frame.jpg" in page        # refresh and fallback


def test_frame_jpg_is_the_latest_frame(sink):
    sink.write(frame(1, 320, 240))
    sink.write(frame(2, 200, 100))
    status, ctype, body = get(sink, "/frame.jpg")
    assert status == 200 and ctype == "image/jpeg"
    assert decode(body).shape == (100, 200, 3)
    assert body == sink.jpeg


def test_frame_jpg_before_any_frame_is_503(sink):
    sink.first_frame_wait_s = 0.2
    with pytest.raises(urllib.error.HTTPError) as e:
        get(sink, "/frame.jpg")
    assert e.value.code == 503


def test_hud_returns_the_text(sink):
    assert get(sink, "/hud")[2] == b""
    sink.status("29.8 FPS  31 ms  ort-cpu  coffee")
    status, ctype, body = get(sink, "/hud")
    assert status == 200 and ctype.startswith("text/plain")
    assert body.decode("utf-8") == "29.8 FPS  31 ms  ort-cpu  coffee"


def test_unknown_path_is_404(sink):
    with pytest.raises(urllib.error.HTTPError) as e:
        get(sink, "/secret")
    assert e.value.code == 404


def test_stream_delivers_distinct_jpeg_parts(sink):
    with Feeder(sink):
        r = open_stream(sink)
        parts = read_parts(r, 3)
        r.close()
    assert len(set(parts)) >= 3
    for p in set(parts):
        assert decode(p).shape == (120, 160, 3)


def test_two_viewers_at_once(sink):
    with Feeder(sink):
        a, b = open_stream(sink), open_stream(sink)
        deadline = time.monotonic() + TIMEOUT
        while sink.viewers < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sink.viewers == 2
        pa, pb = read_parts(a, 3), read_parts(b, 3)
        a.close(), b.close()
    assert len(set(pa)) >= 3 and len(set(pb)) >= 3


def test_a_stalled_viewer_never_slows_write(sink):
    # A viewer that asks for the stream and never reads: its socket buffers fill up and its
    # thread blocks in send; write() must not notice.
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.settimeout(TIMEOUT)
    stalled.connect((HOST, sink.port))
    stalled.sendall(b"GET /stream.mjpg HTTP/1.0\r\n\r\n")
    deadline = time.monotonic() + TIMEOUT
    while sink.viewers < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sink.viewers == 1
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(4)]  # big JPEGs
    slowest, t0 = 0.0, time.perf_counter()
    for i in range(200):
        t = time.perf_counter()
        sink.write(noise[i % 4])
        slowest = max(slowest, time.perf_counter() - t)
    assert sink.frames == 200
    assert slowest < 0.5, f"a write took {slowest:.2f} s with a stalled viewer"
    assert time.perf_counter() - t0 < 30
    # ... and another viewer still gets fresh frames meanwhile
    sink.write(frame(7))
    assert decode(get(sink, "/frame.jpg")[2]).shape == (120, 160, 3)
    t = time.perf_counter()
    sink.close()
    assert time.perf_counter() - t < 3.0
    assert not sink._threads, "a viewer thread outlived close()"
    stalled.close()


def test_close_with_a_viewer_connected_ends_its_stream(capfd):
    s = HttpSink(HOST, 0)
    try:
        with Feeder(s):
            r = open_stream(s)
            read_parts(r, 1)
            t = time.perf_counter()
            s.close()
            closed_in = time.perf_counter() - t
        assert closed_in < 3.0
        ended, deadline = False, time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:  # the viewer drains what was in flight, then EOF
            try:
                if not r.read1(65536):
                    ended = True
                    break
            except (OSError, http.client.HTTPException):
                ended = True
                break
        assert ended, "the viewer's stream did not end after close()"
        r.close()
        assert s.viewers == 0
        with pytest.raises(OSError):  # nothing listens any more
            socket.create_connection((HOST, s.port), timeout=1.0).close()
        s.write(frame(0))             # a write after close is ignored, not an error
        s.close()                     # and closing twice is fine
    finally:
        s.close()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception" not in err, err


def test_port_in_use_is_a_video_error():
    busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        busy.bind((HOST, 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(VideoError, match="in use") as e:
            HttpSink(HOST, port)
        msg = str(e.value)
        assert msg.startswith(f"cannot serve http://127.0.0.1:{port}/: address already in use")
        assert "--output http://127.0.0.1:" in msg and "\n" not in msg
    finally:
        busy.close()


def test_second_sink_on_the_same_port_is_refused(sink):
    with pytest.raises(VideoError, match="in use"):
        HttpSink(HOST, sink.port)


@pytest.mark.parametrize("kwargs", [dict(port=-1), dict(port=70000), dict(port="80"), dict(quality=0),
                                    dict(quality=101)])
def test_bad_arguments_are_video_errors(kwargs):
    args = dict(host=HOST, port=0)
    args.update(kwargs)
    with pytest.raises(VideoError):
        HttpSink(**args)


def test_bad_frame_is_a_video_error(sink):
    with pytest.raises(VideoError, match="uint8"):
        sink.write(np.zeros((4, 4, 3), np.float32))


# ----------------------------------------------------------------------------- parse
@pytest.mark.parametrize("url, expected", [
    ("http://127.0.0.1:8080/", ("127.0.0.1", 8080)),
    ("http://127.0.0.1:9000", ("127.0.0.1", 9000)),
    ("http://127.0.0.1/", ("127.0.0.1", 8080)),
    ("http://127.0.0.1", ("127.0.0.1", 8080)),
    ("http://localhost:8081/", ("localhost", 8081)),
    ("http://192.168.1.20:8080/", ("192.168.1.20", 8080)),
    ("http://0.0.0.0:8080/", ("0.0.0.0", 8080)),
    ("http://jetson.local:8080/", ("jetson.local", 8080)),
    ("http://[::1]:8080/", ("::1", 8080)),
    ("http://[::1]/", ("::1", 8080)),
    ("http://127.0.0.1:0/", ("127.0.0.1", 0)),
])
def test_parse_accepts(url, expected):
    assert parse(url) == expected


@pytest.mark.parametrize("url, why", [
    ("", "http://HOST:PORT/"),
    ("127.0.0.1:8080", "http://HOST:PORT/"),
    ("ftp://127.0.0.1/", "http://HOST:PORT/"),
    ("https://127.0.0.1:8080/", "plain http"),
    ("http://:8080/", "name the address"),
    ("http:///", "name the address"),
    ("http://127.0.0.1:8080/live", "root"),
    ("http://127.0.0.1:8080/stream.mjpg", "root"),
    ("http://127.0.0.1:8080/?q=1", "root"),
    ("http://127.0.0.1:99999/", "0-65535"),
    ("http://127.0.0.1:http/", "0-65535"),
    ("http://::1:8080/", "brackets"),
    ("http://[nope]:8080/", "IPv6"),
    ("http://user:pw@127.0.0.1:8080/", "no user"),
    ("http://bad host:8080/", "not a host"),
])
def test_parse_refuses(url, why):
    with pytest.raises(VideoError, match=why.replace("?", r"\?")) as e:
        parse(url)
    assert "\n" not in str(e.value)


def test_parse_documents_the_bind_rule():
    doc = parse.__doc__.lower()
    assert "loopback" in doc and "explicitly" in doc

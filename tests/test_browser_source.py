"""The browser camera source (stylert.video.browser): its WebSocket protocol and refusals with a
small client written here, then `stylert live --source browser://...` with Debian's headless
Chromium and a fake camera clip (skipped, with the reason, where Chromium is missing).

Only 127.0.0.1 is used. Every wait is bounded (socket timeouts, deadlines); servers and
browsers started here are stopped by their process group."""

import base64
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from stylert.errors import VideoError
from stylert.images import ASSETS
from stylert.video import browser, open_source, uri

HOST = "127.0.0.1"
TIMEOUT = 5.0


# ----------------------------------------------------------------------------- a WebSocket client
class WS:
    """The client side of RFC 6455, enough for these tests and for Chromium's DevTools."""

    def __init__(self, port: int, path: str = "/ws", origin: str = None, timeout: float = TIMEOUT):
        self.sock = socket.create_connection((HOST, port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        head = (f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
        if origin:
            head += f"Origin: {origin}\r\n"
        self.sock.sendall((head + "\r\n").encode())
        self.f = self.sock.makefile("rb")
        self.status = self.f.readline().decode()
        while self.f.readline() not in (b"\r\n", b""):
            pass

    def send(self, payload: bytes, op: int = 0x2, mask: bool = True, length: int = None):
        n = len(payload) if length is None else length
        b1 = 0x80 if mask else 0
        head = bytes([0x80 | op]) + (bytes([b1 | n]) if n < 126 else bytes([b1 | 126]) + struct.pack(">H", n)
                                     if n < 65536 else bytes([b1 | 127]) + struct.pack(">Q", n))
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if len(payload) < 4096 else \
                (np.frombuffer(payload, np.uint8) ^ np.resize(np.frombuffer(key, np.uint8), len(payload))).tobytes()
            head += key
        self.sock.sendall(head + payload)

    def recv(self):
        """(opcode, payload) of the next message."""
        b0, b1 = self.f.read(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack(">H", self.f.read(2))
        elif n == 127:
            (n,) = struct.unpack(">Q", self.f.read(8))
        return b0 & 0x0F, self.f.read(n)

    def frame(self, fid: int, img: np.ndarray, quality: int = 90):
        self.send(struct.pack("<I", fid) + cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes())

    def result(self, deadline_s: float = 20.0):
        """The next stylized frame: (id, BGR image); text messages on the way are kept."""
        end = time.monotonic() + deadline_s
        self.texts = getattr(self, "texts", [])
        while time.monotonic() < end:
            op, data = self.recv()
            if op == 0x2:
                return struct.unpack("<I", data[:4])[0], cv2.imdecode(np.frombuffer(data[4:], np.uint8), cv2.IMREAD_COLOR)
            if op == 0x1:
                self.texts.append(json.loads(data))
            if op == 0x8:
                raise ConnectionError(f"closed: {data!r}")
        raise TimeoutError("no result")

    def close(self):
        try:
            self.f.close()  # the socket's file holds the connection open too
            self.sock.close()
        except OSError:
            pass


def scene(i: int, w: int = 320, h: int = 240) -> np.ndarray:
    """Two different pictures (0: the astronaut, 1: a microscope slide), resized."""
    name = ("astronaut.jpg", "immunohistochemistry.jpg")[i % 2]
    return cv2.resize(cv2.imread(str(ASSETS / name)), (w, h), interpolation=cv2.INTER_AREA)


@pytest.fixture
def src():
    s = browser.BrowserSource(HOST, 0)
    yield s
    s.close()


# ----------------------------------------------------------------------------- protocol (no model, no browser)
def test_uri_parsing_and_webrtc_refusal():
    assert uri.source("browser://127.0.0.1:8554").kind == "browser"
    assert browser.parse("browser://") == ("127.0.0.1", 8554)      # loopback by default
    assert browser.parse("browser://:9000") == ("127.0.0.1", 9000)
    assert browser.parse("browser://[::1]:9000/") == ("::1", 9000)
    with pytest.raises(VideoError, match="not WebRTC: --source browser://"):
        uri.source("webrtc://@:8554/input")
    with pytest.raises(VideoError, match="served at the root"):
        browser.parse("browser://127.0.0.1:8554/input")


def test_page_and_latest_frame_wins(src):
    assert src.host == HOST and src.url.startswith(f"http://{HOST}:")
    with urllib.request.urlopen(src.url, timeout=TIMEOUT) as r:
        assert r.status == 200 and b"getUserMedia" in r.read()
    c = WS(src.port)
    assert " 101 " in c.status
    for i in range(3):  # three frames before the pipeline asks: only the newest waits
        c.frame(10 + i, scene(i))
    end = time.monotonic() + TIMEOUT
    while src.dropped < 2 and time.monotonic() < end:
        time.sleep(0.01)
    img, tag, _ = src.poll(TIMEOUT)
    assert tag[1] == 12 and src.dropped == 2 and src.poll(0.05) is None
    assert np.abs(img.astype(int) - scene(0).astype(int)).mean() < 6  # scene(2) is scene(0)
    src.sinks[0].write(img, tag)
    fid, back = c.result(TIMEOUT)
    assert fid == 12 and back.shape == img.shape
    c.close()


def test_refusals_keep_serving(src):
    good, bad = WS(src.port), WS(src.port)
    bad.send(b"\x01\x00")                                    # shorter than its id
    bad.send(struct.pack("<I", 7) + b"not a jpeg at all")    # not a JPEG
    huge = bytearray(cv2.imencode(".jpg", scene(0))[1].tobytes())
    sof = huge.index(b"\xff\xc0")
    huge[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)  # a header claiming 60000x60000
    bad.send(struct.pack("<I", 8) + bytes(huge))
    bad.send(b"hello", op=0x1)                               # text instead of a frame
    reasons = [json.loads(bad.recv()[1]) for _ in range(4)]
    assert [r["refused"] for r in reasons] == [None, 7, 8, None]
    assert "shorter than its id" in reasons[0]["reason"] and "not a JPEG" in reasons[1]["reason"]
    assert "60000x60000 is above the limit" in reasons[2]["reason"] and "binary" in reasons[3]["reason"]
    assert src.refused == 3 and src.poll(0.05) is None       # nothing refused reached the pipeline
    bad.frame(9, scene(1))                                   # the same page keeps being served
    good.frame(1, scene(0))
    got = {src.poll(TIMEOUT)[1][1], src.poll(TIMEOUT)[1][1]}
    assert got == {9, 1}
    # A page that leaves mid-frame (a header promising 100 kB, 10 sent), an unmasked frame
    # and a page from another origin: each ends only its own connection.
    cut = WS(src.port)
    cut.send(b"x" * 10, length=100_000)
    cut.close()
    unmasked = WS(src.port)
    unmasked.send(struct.pack("<I", 3) + b"\xff\xd8", mask=False)
    op, data = unmasked.recv()
    assert op == 0x8 and struct.unpack(">H", data[:2])[0] == 1002 and b"masked" in data
    other = WS(src.port, origin="http://evil.example")
    assert " 403 " in other.status
    for c in (unmasked, other):
        c.close()
    good.frame(2, scene(0))
    img, tag, _ = src.poll(TIMEOUT)
    src.sinks[0].write(img, tag)
    assert good.result(TIMEOUT)[0] == 2
    end = time.monotonic() + TIMEOUT
    while src.clients > 2 and time.monotonic() < end:
        time.sleep(0.02)
    assert src.clients == 2  # the cut and the refused pages are gone, the two others stay
    good.close(), bad.close()


def test_a_page_that_never_reads_never_stalls_the_pipeline(src):
    slow = WS(src.port)
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.frame(1, scene(0))
    img, tag, _ = src.poll(TIMEOUT)
    big = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)  # ~300 kB JPEGs
    t0 = time.perf_counter()
    for _ in range(100):  # 30 MB the page never reads: each write returns at once
        src.sinks[0].write(big, tag)
    assert time.perf_counter() - t0 < 5.0
    slow.close()


def test_second_server_on_the_same_port(src):
    with pytest.raises(VideoError, match="address already in use: choose another port"):
        open_source(f"browser://{HOST}:{src.port}")


# ----------------------------------------------------------------------------- with Chromium
def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does it as root)")
    return exe


def write_y4m(path: Path, w: int = 640, h: int = 480, frames: int = 30) -> None:
    """A 4:2:0 clip: the two scenes, half a second each at 30 FPS."""
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            f.write(b"FRAME\n" + cv2.cvtColor(scene(i * 2 // frames, w, h), cv2.COLOR_BGR2YUV_I420).tobytes())


class Browser:
    """Headless Chromium on a page, read through its DevTools protocol (on 127.0.0.1)."""

    def __init__(self, url: str, tmp: Path, clip: Path = None, camera: bool = True):
        prof = tmp / f"chromium-{time.monotonic_ns()}"
        args = [chromium(), "--headless=new", "--no-sandbox", f"--user-data-dir={prof}", "--disable-gpu",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-dev-shm-usage", "--remote-debugging-port=0", "--window-size=900,700"]
        if camera:
            args += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-video-capture={clip}"]
        else:  # a camera, but no one to grant the page its use: headless Chromium denies it
            args += ["--use-fake-device-for-media-stream"]
        self.proc = subprocess.Popen(args + [url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        end = time.monotonic() + 20
        port_file = prof / "DevToolsActivePort"
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > end or self.proc.poll() is not None:
                self.close()
                pytest.fail("Chromium did not start (no DevToolsActivePort)")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        while True:
            with urllib.request.urlopen(f"http://{HOST}:{port}/json/list", timeout=TIMEOUT) as r:
                pages = [p for p in json.loads(r.read()) if p.get("type") == "page"]
            if pages or time.monotonic() > end:
                break
            time.sleep(0.1)
        path = "/" + pages[0]["webSocketDebuggerUrl"].split("/", 3)[3]
        self.ws, self.n = WS(port, path, timeout=15.0), 0

    def eval(self, expression: str):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": "Runtime.evaluate",
                                 "params": {"expression": expression, "returnByValue": True}}).encode(), op=0x1)
        while True:
            op, data = self.ws.recv()
            msg = json.loads(data)
            if msg.get("id") == self.n:
                return msg["result"]["result"].get("value")

    def stats(self):
        return json.loads(self.eval("JSON.stringify(window.stylert || null)") or "null")

    def wait(self, cond, seconds: float):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            s = self.stats()
            if s and cond(s):
                return s
            time.sleep(0.2)
        return self.stats()

    def canvas(self) -> np.ndarray:
        url = self.eval("document.getElementById('out').toDataURL('image/png')")
        return cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)

    def close(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)


class Live:
    """`stylert live --source browser://127.0.0.1:0 ...` in a subprocess; Ctrl-C ends it."""

    def __init__(self, tmp: Path, *extra: str):
        self.json = tmp / f"live-{time.monotonic_ns()}.json"
        self.proc = subprocess.Popen([sys.executable, "-m", "stylert.cli", "live", "--source", f"browser://{HOST}:0",
                                      "--json", str(self.json), *extra], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True,
                                     env={**os.environ, "DISPLAY": ""})
        end, self.url = time.monotonic() + 60, None
        while self.url is None and time.monotonic() < end:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"camera page at (http://\S+/)", line)
            self.url = m.group(1) if m else None
        if self.url is None:
            self.proc.kill()
            pytest.fail(f"stylert live printed no page address: {self.proc.communicate(timeout=10)}")
        self.port = int(self.url.rsplit(":", 1)[1].strip("/"))

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            out, err = self.proc.communicate(timeout=10)
            pytest.fail("stylert live did not stop on SIGINT within 20 s")
        return self.proc.returncode, out, err


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    chromium()
    path = tmp_path_factory.mktemp("clip") / "clip.y4m"
    write_y4m(path)
    return path


@pytest.fixture(scope="module")
def reference():
    """The Stylizer the server runs (same defaults), on the two scenes, here."""
    from stylert.apps.live import LiveOptions, style_files
    from stylert.pipelines.stylizer import Stylizer

    st = Stylizer()
    st.set_style(style_files([])[0])
    sharpen = LiveOptions().upsample == "guided"  # back to the frame size as live does by default
    return lambda size: [st.frame(scene(i, 640, 480), size, sharpen=sharpen) for i in range(2)]


def test_chromium_camera_round_trip_with_several_pages(tmp_path, clip, reference):
    """A Chromium page with the fake camera and two scripted pages on one server at a fixed
    size: every page gets the stylization of its own frames back; refusals, a page cut off
    mid-frame and a second server on the same port leave the stream serving."""
    live = Live(tmp_path, "--size", "256x192", "--stabilize", "0")
    page = None
    try:
        page = Browser(live.url, tmp_path, clip)
        s = page.wait(lambda s: s["drawn"] >= 10, 40)
        assert s and s["drawn"] >= 10, f"the page drew {s and s['drawn']} results: {s}"
        refs = reference((256, 192))
        apart = np.abs(refs[0].astype(int) - refs[1].astype(int)).mean()
        seen = set()
        for _ in range(12):  # what the page drew is the stylization of one of the clip's scenes
            got = page.canvas().astype(int)
            assert got.shape == (480, 640, 3)
            d = [np.abs(got - r).mean() for r in refs]
            k = int(np.argmin(d))
            assert d[k] < 14 and d[1 - k] > d[k] + 0.5 * apart - 14, (d, apart)
            seen.add(k)
            if seen == {0, 1}:
                break
            time.sleep(0.15)
        assert seen == {0, 1}, "the drawn frames did not follow the clip's two scenes"

        # Two more pages (scripted): each gets back its own frames' stylization, nobody else's.
        a, b = WS(live.port), WS(live.port)
        for fid in (101, 102):
            a.frame(fid, scene(0, 640, 480))
            b.frame(fid + 100, scene(1, 640, 480))
            for c, want, ref in ((a, fid, refs[0]), (b, fid + 100, refs[1])):
                got_id, img = c.result(20)
                assert got_id == want
                assert np.abs(img.astype(int) - ref).mean() < 8
        # Bad input while the page streams: one refusal, a page cut mid-frame; the page keeps drawing.
        a.send(struct.pack("<I", 5) + b"\xff\xd8garbage")
        while True:
            op, data = a.recv()
            if op == 0x1 and "refused" in json.loads(data):
                assert json.loads(data)["refused"] == 5
                break
        cut = WS(live.port)
        cut.send(b"\x00" * 100, length=200_000)
        cut.close()
        a.close(), b.close()
        before = page.stats()["drawn"]
        s = page.wait(lambda s: s["drawn"] >= before + 5, 20)
        assert s["drawn"] >= before + 5 and s["status"] == ""

        second = subprocess.run([sys.executable, "-m", "stylert.cli", "live", "--source",
                                 f"browser://{HOST}:{live.port}"], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "DISPLAY": ""})
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [
            f"stylert: error: cannot serve the camera page on {live.url}: address already in use: "
            f"choose another port (--source browser://{HOST}:{live.port + 1})"]
        assert page.wait(lambda s: s["drawn"] >= before + 8, 10)["drawn"] >= before + 8
    finally:
        if page:
            page.close()
        rc, out, err = live.stop()
    assert rc == 130, err  # stopped by Ctrl-C: the outputs are complete, the exit says interrupted
    summary = json.loads(live.json.read_text())
    assert summary["stopped_by"] == "signal" and summary["processing_size"] == [256, 192]


def test_latency_at_the_auto_size_and_a_page_without_camera(tmp_path, clip):
    """Camera-to-screen latency as the page measures it, at the processing size `live` picks
    (reported, not asserted); a page denied the camera says so and the server serves on."""
    live = Live(tmp_path)
    page = denied = None
    try:
        page = Browser(live.url, tmp_path, clip)
        page.wait(lambda s: s["drawn"] >= 30, 40)             # warm-up and the size calibration
        first = page.stats()["drawn"]
        time.sleep(8.0)
        s = page.stats()
        lat = np.asarray(s["lat"][-(s["drawn"] - first):], float)
        assert len(lat) >= 20, s
        denied = Browser(live.url, tmp_path, camera=False)
        d = denied.wait(lambda s: s["status"], 15)
        assert d["status"].startswith("camera permission denied") and d["drawn"] == 0, d
        before = page.stats()["drawn"]
        assert page.wait(lambda s: s["drawn"] >= before + 5, 15)["drawn"] >= before + 5
        hud = s["hud"]
    finally:
        for b in (page, denied):
            if b:
                b.close()
        rc, out, err = live.stop()
    assert rc == 130, err  # stopped by Ctrl-C: the outputs are complete, the exit says interrupted
    summary = json.loads(live.json.read_text())
    line = (f"browser camera-to-screen latency on loopback: median {np.median(lat):.0f} ms, p90 "
            f"{np.percentile(lat, 90):.0f} ms over {len(lat)} frames at {s['fps']:.1f} FPS; processing "
            f"{summary['processing_size'][0]}x{summary['processing_size'][1]} (auto), {summary['backend'].split(' (')[0]}; "
            f"page: {d['status']!r}; server: {hud}")
    print("\n" + line)
    out_file = os.environ.get("STYLERT_BROWSER_LATENCY")
    if out_file:
        Path(out_file).write_text(json.dumps({"median_ms": float(np.median(lat)), "p90_ms": float(np.percentile(lat, 90)),
                                              "frames": len(lat), "fps": s["fps"], "summary": summary, "line": line}))


def test_ctrl_c_before_any_page_is_an_interrupt(tmp_path):
    """Ctrl-C while the page waits for its first visitor: exit 130 and one line, no error line
    blaming the user (no Chromium needed)."""
    live = Live(tmp_path, "--size", "64x48")
    rc, out, err = live.stop()
    assert rc == 130 and err.strip().splitlines() == ["stylert: interrupted"], (rc, err)

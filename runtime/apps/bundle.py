"""``stylert bundle PKG -o DIR``: what an embedded device needs to run a model package.

DIR/package/      the package (ONNX graphs + stylert.json; model.pt left out: no torch there)
DIR/stylert.json  is the package's; DIR/bundle.json says what the bundle runs and how
DIR/run.sh        the command for the device (TensorRT engines are built there on first use,
                  never copied between devices)
DIR/README.md     set-up steps for a Jetson-class device

Written to a temporary folder and renamed into place, like packages.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
from pathlib import Path
from typing import Dict

from .. import families, folders
from ..errors import FolderError
from ..package import Package, load
from . import path

README = """# stylert bundle: {kind}

Made by `stylert bundle` from a {kind} package ({graphs}).

On the device (a Jetson with JetPack 6, or any Linux machine; these steps were written from
NVIDIA's documentation, not tried on a Jetson by the stylert team):

1. Python 3.9+, then the runtime without PyPI's onnxruntime (it would shadow NVIDIA's GPU build):
   `pip install --no-deps stylert numpy opencv-python tqdm`, and ONNX Runtime for the device:
   on Jetson the `onnxruntime-gpu` wheel from the Jetson AI Lab / JetPack index, elsewhere
   `pip install onnxruntime` (CPU) or `onnxruntime-gpu`. TensorRT comes with JetPack (`python3 -c
   "import tensorrt"` to check; in a venv, make it with --system-site-packages). For a CSI camera
   (`--source csi://0`) leave out opencv-python and use JetPack's OpenCV, which has GStreamer.
2. `sh run.sh` runs: `{command}`.
3. For TensorRT: `stylert build package --precision fp16` on the device itself (engines are
   specific to the GPU and TensorRT version; never copy them from another machine).
"""


def add_parser(sub) -> None:
    p = sub.add_parser("bundle", help="a model package + run script + set-up notes for an embedded device")
    p.add_argument("package", type=path)
    p.add_argument("-o", "--out", required=True, type=path)
    p.add_argument("--force", action="store_true", help="replace an existing non-empty folder")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    info = bundle(load(args.package), args.out, force=args.force)
    print(f"wrote {args.out}: package/, bundle.json, run.sh ({' '.join(info['command'])}), README.md")
    return 0


def bundle(pkg: Package, out: os.PathLike | str, force: bool = False) -> Dict:
    out = Path(out)
    try:
        with folders.building(out, force) as tmp:
            shutil.copytree(pkg.path, tmp / "package", ignore=shutil.ignore_patterns("model.pt"))
            command = ["stylert", *families.get(pkg.kind).bundle_command]
            info = {"kind": pkg.kind, "package": "package", "package_checksum": pkg.meta.get("checksum"),
                    "graphs": list(pkg.graphs), "precisions": {g: pkg.precisions(g) for g in pkg.graphs},
                    "command": command, "made_with": pkg.meta.get("exporter", {})}
            (tmp / "bundle.json").write_text(json.dumps(info, indent=1) + "\n")
            script = tmp / "run.sh"
            script.write_text("#!/bin/sh\n# Runs this bundle (see README.md). Extra arguments are passed on.\n"
                              'cd "$(dirname "$0")"\nexec ' + " ".join(shlex.quote(c) for c in command) + ' "$@"\n')
            script.chmod(0o755)
            (tmp / "README.md").write_text(README.format(kind=pkg.kind, graphs=", ".join(pkg.graphs),
                                                         command=" ".join(command)))
    except OSError as e:
        raise FolderError(f"cannot write {out}: {e.strerror}") from None
    return info

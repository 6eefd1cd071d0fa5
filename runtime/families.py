"""The model families, one record each: everything the runtime, the exporter and the tools
need to know about a kind of model, in one place.

A new family is one record here plus its model file (export/models/<kind>.py: the
nn.Module, its graphs and I/O rules), its pipeline file (runtime/pipelines/) and, if it has
one, its training recipe (export/train/<name>.py, declaring its own options). Records name
those by "module:attribute" strings, resolved on first use, so reading this file imports
neither torch nor a pipeline. Everything else derives from the records: the `stylert.<Pipeline>`
names, the commands (`stylert export/train/bench` choices, a family's own apps), the package
check, the self-check, bundles, TensorRT ranges, Triton repositories and the Makefile's
bundled packages (`python -m stylert.families`). A family that lives outside this file (a
plugin's, a test's toy) joins through ``register``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .errors import UsageError

# TensorRT profile ranges (min, opt, max) of the symbolic dimensions every family shares;
# opt is a 640x480 camera frame.
COMMON_RANGES: Dict[str, Tuple[int, int, int]] = {
    "batch": (1, 1, 4),
    "height": (64, 480, 1088), "width": (64, 640, 1920),
}


@dataclass(frozen=True)
class Family:
    kind: str                        # the package's "kind", the CLI's model name
    graphs: Tuple[str, ...]          # the ONNX graphs of its packages
    pipeline: str                    # "module:Class" of its runtime pipeline
    model: str                       # module of the export side (torch): MODEL, modules, graphs, io_rules
    bench: str                       # "module:function" (pipeline, size, batch) -> one timed call
    bench_sizes: List[int]           # `stylert bench` default sizes (0: the model's own)
    bundle_command: List[str]        # what its edge bundle runs (arguments after `stylert`)
    dims: Dict[str, Tuple[int, int, int]] = field(default_factory=dict)  # its own symbolic dims
    chain: str = ""                  # "module:function" (pipeline, probe) -> the whole chain's output
    # the manifest's "io" fields the runtime reads: name -> "number", "int", "ints", "numbers" or
    # "shapes" (lists of ints); "numbers:FIELD": as many numbers as the int FIELD says
    io: Dict[str, str] = field(default_factory=dict)
    triton: Optional[str] = None     # "module:function" (pkg, name) -> (glue, ensembles, usage)
    batch_delay_us: int = 0          # Triton dynamic batching wait (0 for live frames: latency first)
    apps: Tuple[str, ...] = ()       # modules of its own commands (add_parser(sub)), after the common ones
    train: Dict[str, str] = field(default_factory=dict)  # `stylert train NAME` -> its recipe module (torch)
    bundled: Tuple[str, ...] = ("fp32", "int8")  # the precisions of its bundled package (make packages)
    optional: Tuple[str, ...] = ()   # graphs a package may add on request (export --full-graph)

    @property
    def ranges(self) -> Dict[str, Tuple[int, int, int]]:
        return {**COMMON_RANGES, **self.dims}

    def pipeline_class(self):
        return resolve(self.pipeline)

    def model_module(self):
        """The export side's module for this family (needs torch)."""
        return importlib.import_module(self.model)


FAMILIES: Dict[str, Family] = {f.kind: f for f in [
    Family("ae", ("encoder", "decoder"), "stylert.pipelines.autoencoder:AutoEncoder",
           "stylert.export.models.ae", "stylert.pipelines.autoencoder:bench_call", [0],
           ["manifold", "--package", "package", "-o", "out"],
           apps=("stylert.apps.manifold",), train={"ae": "stylert.export.train.ae"},
           chain="stylert.pipelines.autoencoder:chain", io={"image_shape": "ints", "latent": "int"}),
    Family("adain", ("encoder", "decoder"), "stylert.pipelines.stylizer:Stylizer",
           "stylert.export.models.adain", "stylert.pipelines.stylizer:bench_call", [256],
           ["live", "--package", "package", "--source", "0", "--size", "320x240", "--precision", "int8"],
           apps=("stylert.apps.stylize", "stylert.apps.live"), bundled=("fp32", "fp16", "int8"),  # fp16: GPUs
           train={"adain": "stylert.export.train.adain", "student": "stylert.export.train.student"},
           dims={"fheight": (8, 60, 136), "fwidth": (8, 80, 240)},  # features: image / 8
           chain="stylert.pipelines.stylizer:chain", io={"eps": "number"}, triton="stylert.export.triton:adain_glue",
           optional=("adain_full",)),
    Family("stylegan", ("mapping", "synthesis"), "stylert.pipelines.generator:Generator",
           "stylert.export.models.stylegan", "stylert.pipelines.generator:bench_call", [0],
           ["generate", "video", "--live", "--package", "package"],
           apps=("stylert.apps.generate",), train={"stylegan": "stylert.export.train.stylegan"},
           chain="stylert.pipelines.generator:chain", triton="stylert.export.triton:stylegan_glue",
           io={"num_ws": "int", "style_dim": "int", "size": "int", "noise_shapes": "shapes",
               "w_avg": "numbers:style_dim"},
           batch_delay_us=2000),
]}
KINDS = tuple(FAMILIES)


def register(family: Family) -> Family:
    """Adds a family whose record lives outside this file (a plugin's, a test's toy family):
    call it before anything reads the records, i.e. right after importing this module and
    before stylert.package, the CLI or a pipeline (stylert.package keeps the kinds' graphs
    from its import on, the CLI its choices from its start)."""
    global KINDS
    if family.kind in FAMILIES:
        raise UsageError(f"a model family '{family.kind}' is already registered")
    FAMILIES[family.kind] = family
    KINDS = tuple(FAMILIES)
    return family


def pipelines() -> Dict[str, str]:
    """Pipeline class name -> its "module:Class" (``stylert.Stylizer`` and the like)."""
    return {f.pipeline.rpartition(":")[2]: f.pipeline for f in FAMILIES.values()}


def get(kind: str) -> Family:
    try:
        return FAMILIES[kind]
    except KeyError:
        raise UsageError(f"unknown model kind {kind!r}: choose one of {', '.join(KINDS)}") from None


def resolve(spec: str):
    """"package.module:attribute" -> the attribute (imported on first use)."""
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m stylert.families [KIND...]`: one line per family (all, or those named), its
    kind and the precisions of its bundled package, what `make packages` exports."""
    import sys

    kinds = sys.argv[1:] if argv is None else argv
    try:
        lines = [f"{kind} {','.join(get(kind).bundled)}" for kind in kinds or KINDS]
    except UsageError as e:
        print(f"stylert.families: error: {e}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

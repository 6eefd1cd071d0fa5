"""The model families, one record each: everything the runtime, the exporter and the tools
need to know about a kind of model, in one place.

A new family is one record here plus its model file (export/models/<kind>.py: the
nn.Module, its graphs and I/O rules) and its pipeline file (runtime/pipelines/). Records
name those by "module:attribute" strings, resolved on first use, so reading this file
imports neither torch nor a pipeline.
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
           chain="stylert.pipelines.autoencoder:chain", io={"image_shape": "ints", "latent": "int"}),
    Family("adain", ("encoder", "decoder", "adain_full"), "stylert.pipelines.stylizer:Stylizer",
           "stylert.export.models.adain", "stylert.pipelines.stylizer:bench_call", [256],
           ["live", "--package", "package", "--source", "0", "--size", "320x240", "--precision", "int8"],
           dims={"fheight": (8, 60, 136), "fwidth": (8, 80, 240)},  # features: image / 8
           chain="stylert.pipelines.stylizer:chain", io={"eps": "number"}, triton="stylert.export.triton:adain_glue"),
    Family("stylegan", ("mapping", "synthesis"), "stylert.pipelines.generator:Generator",
           "stylert.export.models.stylegan", "stylert.pipelines.generator:bench_call", [0],
           ["generate", "video", "--live", "--package", "package"],
           chain="stylert.pipelines.generator:chain", triton="stylert.export.triton:stylegan_glue",
           io={"num_ws": "int", "style_dim": "int", "size": "int", "noise_shapes": "shapes",
               "w_avg": "numbers:style_dim"},
           batch_delay_us=2000),
]}
KINDS = tuple(FAMILIES)


def get(kind: str) -> Family:
    try:
        return FAMILIES[kind]
    except KeyError:
        raise UsageError(f"unknown model kind {kind!r}: choose one of {', '.join(KINDS)}") from None


def resolve(spec: str):
    """"package.module:attribute" -> the attribute (imported on first use)."""
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)

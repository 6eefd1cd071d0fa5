"""``stylert triton PKG -o REPO`` (and ``stylert export ... --triton-repo REPO``): a Triton
Inference Server model repository for a model package.

REPO/<name>_<graph>/config.pbtxt + 1/model.onnx   one model per package graph
REPO/<name>_adain_op, _style_stats, _truncation  small glue graphs (plain ONNX, built here)
                                                    so the ensembles need no custom backend
REPO/<name> (+ <name>_style for AdaIN)              ensembles: encoder -> AdaIN -> decoder
                                                    and mapping -> truncation -> synthesis
REPO/README.md                                      how to serve it and what each model takes

A graph with TensorRT engines in the engine cache (``stylert build``) for the chosen
precision becomes a ``tensorrt_plan`` model with one plan per GPU compute capability
(``cc_model_filenames``); otherwise ONNX Runtime runs it, with the TensorRT accelerator
block on GPU instances. Written to a temporary folder and renamed into place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import onnx
from onnx import TensorProto, helper

from stylert import families, folders
from stylert.backends.tensorrt import cache as tensorrt
from stylert.errors import TritonError
from stylert.package import Package, base_precision

from .convert import signature

OPSET, IR_VERSION = 18, 9
TYPES = {"float32": "TYPE_FP32", "float16": "TYPE_FP16", "int64": "TYPE_INT64", "int32": "TYPE_INT32",
         "uint8": "TYPE_UINT8"}
ACCELERATOR_PRECISION = {"fp32": "FP32", "fp16": "FP16", "int8": "INT8"}
# NVIDIA's compute capabilities (major.minor); plans are looked up by these keys.
COMPUTE_CAPABILITIES = ("5.0", "5.2", "5.3", "6.0", "6.1", "6.2", "7.0", "7.2", "7.5", "8.0", "8.6", "8.7",
                        "8.9", "9.0", "10.0", "10.1", "10.3", "11.0", "12.0", "12.1")



class Enum(str):
    """A protobuf enum value (written without quotes)."""


# -- protobuf text format ---------------------------------------------------------------
def _scalar(v) -> str:
    if isinstance(v, Enum):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[ " + ", ".join(_scalar(x) for x in v) + " ]"
    return json.dumps(str(v))


def pbtxt(fields: Dict, indent: int = 0) -> str:
    """``fields`` in protobuf text format: dicts are messages, lists of dicts repeated
    messages (maps are lists of {"key", "value"}), other lists repeated scalars."""
    pad, lines = "  " * indent, []
    for key, value in fields.items():
        messages = value if isinstance(value, list) and value and isinstance(value[0], dict) else None
        for v in messages if messages is not None else [value]:
            if isinstance(v, dict):
                lines += [f"{pad}{key} {{", pbtxt(v, indent + 1), f"{pad}}}"]
            else:
                lines.append(f"{pad}{key}: {_scalar(v)}")
    return "\n".join(line for line in lines if line)


# -- glue graphs ------------------------------------------------------------------------
def _graph_model(nodes, inputs, outputs, initializers, name: str) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="stylert.export.triton")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def _stats_nodes(x: str, eps: float) -> Tuple[List, List]:
    """Nodes computing mean and std (unbiased, sqrt(var + eps): the kernel's convention) of
    ``x`` over its spatial axes as ``x_mean``/``x_std`` (N, C, 1, 1); a 1-pixel map has var 0."""
    inits = [helper.make_tensor("axes_hw", TensorProto.INT64, [2], [2, 3]),
             helper.make_tensor("hw_begin", TensorProto.INT64, [1], [2]),
             helper.make_tensor("hw_end", TensorProto.INT64, [1], [4]),
             helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
             helper.make_tensor("eps", TensorProto.FLOAT, [], [eps])]
    n = helper.make_node
    nodes = [n("ReduceMean", [x, "axes_hw"], ["x_mean"], keepdims=1),
             n("Sub", [x, "x_mean"], ["x_centred"]),
             n("ReduceSumSquare", ["x_centred", "axes_hw"], ["x_sumsq"], keepdims=1),
             n("Shape", [x], ["x_shape"]),
             n("Slice", ["x_shape", "hw_begin", "hw_end"], ["x_hw"]),
             n("ReduceProd", ["x_hw"], ["x_count"], keepdims=0),
             n("Cast", ["x_count"], ["x_countf"], to=TensorProto.FLOAT),
             n("Sub", ["x_countf", "one"], ["x_dof0"]),
             n("Max", ["x_dof0", "one"], ["x_dof"]),
             n("Div", ["x_sumsq", "x_dof"], ["x_var"]),
             n("Add", ["x_var", "eps"], ["x_var_eps"]),
             n("Sqrt", ["x_var_eps"], ["x_std"])]
    return nodes, inits


def _features(name: str, channels: int):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", channels, "fheight", "fwidth"])


def _stat(name: str, channels: int):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", channels, 1, 1])


def adain_graph(channels: int, eps: float) -> onnx.ModelProto:
    """features, style_mean, style_std, alpha (N, 1) -> alpha * AdaIN + (1 - alpha) * features."""
    nodes, inits = _stats_nodes("features", eps)
    inits.append(helper.make_tensor("axes_alpha", TensorProto.INT64, [2], [2, 3]))
    n = helper.make_node
    nodes += [n("Div", ["x_centred", "x_std"], ["normalized"]),
              n("Mul", ["normalized", "style_std"], ["scaled"]),
              n("Add", ["scaled", "style_mean"], ["target"]),
              n("Unsqueeze", ["alpha", "axes_alpha"], ["alpha4"]),
              n("Sub", ["target", "features"], ["delta"]),
              n("Mul", ["alpha4", "delta"], ["step"]),
              n("Add", ["features", "step"], ["stylized"])]
    inputs = [_features("features", channels), _stat("style_mean", channels), _stat("style_std", channels),
              helper.make_tensor_value_info("alpha", TensorProto.FLOAT, ["batch", 1])]
    outputs = [_features("stylized", channels)]
    return _graph_model(nodes, inputs, outputs, inits, "adain")


def stats_graph(channels: int, eps: float) -> onnx.ModelProto:
    """features -> style_mean, style_std: a style's statistics, computed once per style."""
    nodes, inits = _stats_nodes("features", eps)
    nodes += [helper.make_node("Identity", ["x_mean"], ["style_mean"]),
              helper.make_node("Identity", ["x_std"], ["style_std"])]
    return _graph_model(nodes, [_features("features", channels)],
                        [_stat("style_mean", channels), _stat("style_std", channels)], inits, "stats")


def styles_graph(w_avg: Sequence[float], num_ws: int) -> onnx.ModelProto:
    """w (N, D), truncation (N, 1) -> ws (N, num_ws, D) = w_avg + psi * (w - w_avg) per block."""
    dim = len(w_avg)
    inits = [helper.make_tensor("w_avg", TensorProto.FLOAT, [dim], list(map(float, w_avg))),
             helper.make_tensor("axis_1", TensorProto.INT64, [1], [1]),
             helper.make_tensor("blocks", TensorProto.INT64, [3], [1, num_ws, 1])]
    n = helper.make_node
    nodes = [n("Sub", ["w", "w_avg"], ["offset"]),
             n("Mul", ["truncation", "offset"], ["shrunk"]),
             n("Add", ["w_avg", "shrunk"], ["w_trunc"]),
             n("Unsqueeze", ["w_trunc", "axis_1"], ["w_one"]),
             n("Expand", ["w_one", "blocks"], ["ws"])]
    inputs = [helper.make_tensor_value_info("w", TensorProto.FLOAT, ["batch", dim]),
              helper.make_tensor_value_info("truncation", TensorProto.FLOAT, ["batch", 1])]
    outputs = [helper.make_tensor_value_info("ws", TensorProto.FLOAT, ["batch", num_ws, dim])]
    return _graph_model(nodes, inputs, outputs, inits, "styles")


# -- engines ----------------------------------------------------------------------------
def parse_cc(text: str) -> List[str]:
    """'8.6,8.7' or 'sm_86' -> ['8.6', '8.7']; an unknown capability is refused."""
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        m = re.fullmatch(r"(?:sm_?)?(\d+)(\d)", item.lower()) if "." not in item else None
        cc = f"{m.group(1)}.{m.group(2)}" if m else item
        if cc not in COMPUTE_CAPABILITIES:
            raise TritonError(f"unknown compute capability '{item}': use major.minor as NVIDIA lists it "
                              f"(8.6 RTX 30xx/A10, 8.7 Jetson Orin, 8.9 L4/RTX 40xx, 9.0 H100; known: "
                              f"{', '.join(COMPUTE_CAPABILITIES)})")
        out.append(cc)
    return out


def find_engines(root: Path, onnx_sha256: Iterable[str], precision: str) -> Dict[str, Tuple[Path, Dict]]:
    """{compute capability: (engine, key)} for valid cache entries built from one of the given
    ONNX files at ``precision``; the newest entry wins when there are several."""
    shas, found = set(onnx_sha256), {}
    sidecars = sorted(root.glob("*.json"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    for sidecar in sidecars:
        try:
            key = json.loads(sidecar.read_text()).get("key", {})
        except (OSError, ValueError):
            continue
        if key.get("onnx_sha256") in shas and key.get("precision") == precision:
            engine = sidecar.with_suffix(".engine")
            if tensorrt.read_entry(key, engine, sidecar) is not None:
                found[key["compute_capability"]] = (engine, key)
    return found


# -- configs ----------------------------------------------------------------------------
def _batched(sig: Dict) -> bool:
    return all(t["shape"] and t["shape"][0] == "batch" for t in sig["inputs"] + sig["outputs"])


def _dims(shape: List, batched: bool) -> List[int]:
    return [d if isinstance(d, int) and d > 0 else -1 for d in (shape[1:] if batched else shape)]


def _tensor(t: Dict, batched: bool) -> Dict:
    if t["dtype"] not in TYPES:
        raise TritonError(f"tensor {t['name']} has dtype {t['dtype']}, which this writer does not map to Triton")
    return {"name": t["name"], "data_type": Enum(TYPES[t["dtype"]]), "dims": _dims(t["shape"], batched)}


def _warmup(sig: Dict, batched: bool, size: Tuple[int, int]) -> Dict:
    """One all-zeros request at the warm-up size, so the first real request is not the slow one."""
    w, h = size
    concrete = {"batch": 1, "height": h, "width": w, "fheight": max(1, h // 8), "fwidth": max(1, w // 8)}
    inputs = []
    for t in sig["inputs"]:
        shape = t["shape"][1:] if batched else t["shape"]
        dims = [d if isinstance(d, int) and d > 0 else concrete.get(d) for d in shape]
        if None in dims:
            raise TritonError(f"no warm-up size for dimension {shape} of {t['name']}")
        inputs.append({"key": t["name"], "value": {"data_type": Enum(TYPES[t["dtype"]]), "dims": dims,
                                                   "zero_data": True}})
    return {"name": "zeros", "batch_size": 1, "inputs": inputs}


def model_config(name: str, sig: Dict, *, device: str, instances: int, max_batch: int,
                 warmup_size: Tuple[int, int], accelerator: Optional[str] = None,
                 plans: Optional[Dict[str, str]] = None, queue_delay_us: int = 0) -> Dict:
    """The config of one graph: ONNX Runtime (``accelerator``: TensorRT precision on GPU) or
    a TensorRT plan per compute capability (``plans``: {cc: file name})."""
    batched = _batched(sig)
    cfg: Dict = {"name": name, "platform": "tensorrt_plan" if plans else "onnxruntime_onnx",
                 "max_batch_size": max_batch if batched else 0,
                 "input": [_tensor(t, batched) for t in sig["inputs"]],
                 "output": [_tensor(t, batched) for t in sig["outputs"]],
                 "instance_group": [{"count": instances, "kind": Enum(f"KIND_{device.upper()}")}]}
    if batched:
        cfg["dynamic_batching"] = {"max_queue_delay_microseconds": queue_delay_us}
    if plans:
        cfg["cc_model_filenames"] = [{"key": cc, "value": f} for cc, f in sorted(plans.items())]
    elif device == "gpu" and accelerator:
        params = {"precision_mode": accelerator, "max_workspace_size_bytes": str(1 << 30),
                  "trt_engine_cache_enable": "1", "trt_engine_cache_path": f"/tmp/triton-trt-cache/{name}"}
        cfg["optimization"] = {"execution_accelerators": {"gpu_execution_accelerator": [
            {"name": "tensorrt", "parameters": [{"key": k, "value": v} for k, v in params.items()]}]}}
    cfg["model_warmup"] = [_warmup(sig, batched, warmup_size)]
    return cfg


def ensemble_config(name: str, steps: List[Tuple[str, Dict[str, str], Dict[str, str]]],
                    outputs: Sequence[str], configs: Dict[str, Dict]) -> Dict:
    """An ensemble of ``steps`` (model, {model input: tensor}, {model output: tensor}); its
    inputs are the tensors no step produces, typed from the models that consume them."""
    produced = {t: (m, o) for m, _, outs in steps for o, t in outs.items()}
    spec = {}
    for m, ins, _ in steps:
        for i, t in ins.items():
            if t not in produced and t not in spec:
                spec[t] = next(x for x in configs[m]["input"] if x["name"] == i)
    inputs = [{**s, "name": t} for t, s in spec.items()]
    outs = []
    for t in outputs:
        m, o = produced[t]
        outs.append({**next(x for x in configs[m]["output"] if x["name"] == o), "name": t})
    return {"name": name, "platform": "ensemble",
            "max_batch_size": min(configs[m]["max_batch_size"] for m, _, _ in steps),
            "input": inputs, "output": outs,
            "ensemble_scheduling": {"step": [
                {"model_name": m, "model_version": -1,
                 "input_map": [{"key": k, "value": v} for k, v in ins.items()],
                 "output_map": [{"key": k, "value": v} for k, v in outs_.items()]}
                for m, ins, outs_ in steps]}}


# -- the repository ---------------------------------------------------------------------
def _plan_batch(key: Dict) -> int:
    """The largest batch every input of an engine's profile accepts."""
    return min(int(shapes[2][0]) for shapes in key["profile"].values())


def write_repository(pkg: Package, repo: os.PathLike | str, *, precision: str = "fp32", device: str = "gpu",
                     instances: int = 1, max_batch: int = 8, cc: Optional[Sequence[str]] = None,
                     engines: Optional[os.PathLike | str] = None, name: Optional[str] = None,
                     warmup_size: Tuple[int, int] = (320, 240), force: bool = False) -> Dict:
    """Writes the repository (see module doc); returns {model: {"platform", "precision"}}, the
    precision being None for the glue graphs and ensembles."""
    repo, name = Path(repo), pkg.kind if name is None else name  # an empty --name is refused below
    if precision not in ACCELERATOR_PRECISION:
        raise TritonError(f"unknown precision '{precision}': choose fp32, fp16 or int8")
    if device not in ("gpu", "cpu"):
        raise TritonError(f"unknown device '{device}': choose gpu or cpu")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise TritonError(f"model name '{name}' must be letters, digits, '_', '-' or '.'")
    if instances < 1 or max_batch < 1:
        raise TritonError("--instances and --max-batch must be at least 1")
    if cc and device != "gpu":
        raise TritonError("--cc names GPUs for TensorRT plans: it needs --device gpu")
    if engines is not None and not Path(engines).is_dir():  # before: no plans found, ONNX served instead
        raise TritonError(f"--engines {engines}: no such folder: name the folder `stylert build` wrote the "
                          f"engines to, or leave --engines out for stylert's engine cache")
    root = Path(engines) if engines is not None else tensorrt.cache_dir()
    made: Dict[str, Dict[str, str]] = {}
    configs: Dict[str, Dict] = {}
    precisions: Dict[str, str] = {}
    try:
        with folders.building(repo, force) as tmp:
            for graph, sig in pkg.graphs.items():
                mine = pkg.variant(graph, precision, cpu=device == "cpu")
                files = pkg.graphs[graph]["files"]
                plans = _plans(graph, mine, files, root, cc) if device == "gpu" else {}
                model, version = f"{name}_{graph}", tmp / f"{name}_{graph}" / "1"
                version.mkdir(parents=True)
                precisions[model] = mine
                batch = min([max_batch] + [_plan_batch(k) for _, k in plans.values()])
                if plans:
                    for c, (engine, _) in plans.items():
                        shutil.copyfile(engine, version / f"model.sm{c.replace('.', '')}.plan")
                else:
                    shutil.copyfile(pkg.onnx(graph, mine), version / "model.onnx")
                configs[model] = model_config(
                    model, sig, device=device, instances=instances, max_batch=batch, warmup_size=warmup_size,
                    accelerator=ACCELERATOR_PRECISION[base_precision(mine)],
                    plans={c: f"model.sm{c.replace('.', '')}.plan" for c in plans},
                    queue_delay_us=families.get(pkg.kind).batch_delay_us)
            glue, ensembles, usage = _glue_and_ensembles(pkg, name)
            for model, onnx_model in glue.items():
                (tmp / model / "1").mkdir(parents=True)
                onnx.save(onnx_model, str(tmp / model / "1" / "model.onnx"))
                configs[model] = model_config(model, signature(onnx_model), device=device, instances=instances,
                                              max_batch=max_batch, warmup_size=warmup_size, accelerator="FP32")
            for model, (steps, outputs) in ensembles.items():
                configs[model] = ensemble_config(model, steps, outputs, configs)
                (tmp / model / "1").mkdir(parents=True)  # ensembles have an empty version folder
            for model, cfg in configs.items():
                (tmp / model / "config.pbtxt").write_text(pbtxt(cfg) + "\n")
                made[model] = {"platform": cfg["platform"], "precision": precisions.get(model)}  # None: glue, ensembles
            (tmp / "README.md").write_text(_readme(pkg, name, configs, usage, precision, device))
    except OSError as e:
        raise TritonError(f"cannot write {repo}: {e.strerror or e}") from None
    return made


def _plans(graph: str, precision: str, files: Dict, root: Path, cc: Optional[Sequence[str]]):
    found = find_engines(root, [f["sha256"] for f in files.values()], precision)
    if not cc:
        return found
    missing = [c for c in cc if c not in found]
    if missing:
        have = ", ".join(sorted(found)) or "none"
        raise TritonError(f"no TensorRT engine of {graph} ({precision}) for compute capability "
                          f"{', '.join(missing)} in {root} (have: {have}): run `stylert build PKG --precision "
                          f"{precision}` on a GPU of that kind, with Triton's TensorRT version, and pass its "
                          f"engine folder with --engines")
    return {c: found[c] for c in cc}


def adain_glue(pkg: Package, name: str):
    """AdaIN: the AdaIN op and style statistics as plain ONNX graphs, an ensemble for the style
    (image -> statistics, once per style) and one for frames (content + statistics -> image)."""
    channels = pkg.graphs["decoder"]["inputs"][0]["shape"][1]
    eps = float(pkg.meta["io"]["eps"])
    image_in = pkg.graphs["encoder"]["inputs"][0]["name"]   # "frame" (format 1: "image")
    image_out = pkg.graphs["decoder"]["outputs"][0]["name"]
    glue = {f"{name}_adain_op": adain_graph(channels, eps), f"{name}_style_stats": stats_graph(channels, eps)}
    ensembles = {
        name: ([(f"{name}_encoder", {image_in: "content"}, {"features": "content_features"}),
                (f"{name}_adain_op", {"features": "content_features", "style_mean": "style_mean",
                                   "style_std": "style_std", "alpha": "alpha"}, {"stylized": "target"}),
                (f"{name}_decoder", {"features": "target"}, {image_out: "image"})], ["image"]),
        f"{name}_style": ([(f"{name}_encoder", {image_in: "style"}, {"features": "style_features"}),
                           (f"{name}_style_stats", {"features": "style_features"},
                            {"style_mean": "style_mean", "style_std": "style_std"})],
                          ["style_mean", "style_std"]),
    }
    pixels = ("uint8 BGR [H, W, 3] (OpenCV's frames)" if "frame" in pkg.meta["io"]
              else "float32 RGB [3, H, W] in [0, 1]")
    usage = (f"Send a style image once to `{name}_style` (style: {pixels}) and keep its\n"
             f"style_mean/style_std; then send each frame to `{name}` with them and alpha ([1], 0..1).\n"
             f"Images are {pixels}; outputs are padded to a multiple of 8 (pad inputs first).\n"
             f"Client: `python examples/triton_client.py --model {name} --style STYLE.jpg --source 0`.")
    return glue, ensembles, usage


def stylegan_glue(pkg: Package, name: str):
    """StyleGAN: truncation as a plain ONNX graph and one ensemble (z -> image)."""
    io = pkg.meta["io"]
    noises = [i["name"] for i in pkg.graphs["synthesis"]["inputs"] if i["name"] != "ws"]
    glue = {f"{name}_truncation": styles_graph(io["w_avg"], io["num_ws"])}
    ensembles = {name: ([(f"{name}_mapping", {"z": "z"}, {"w": "w"}),
                         (f"{name}_truncation", {"w": "w", "truncation": "truncation"}, {"ws": "ws"}),
                         (f"{name}_synthesis", {"ws": "ws", **{n: n for n in noises}}, {"image": "image"})],
                        ["image"])}
    usage = (f"Send z ([{io['style_dim']}], float32 normal), truncation ([1]) and one noise\n"
             f"tensor per block (zeros for noise mode 'none') to `{name}`; the image is in [-1, 1].\n"
             f"Style mixing: call `{name}_mapping` and `{name}_synthesis` yourself.")
    return glue, ensembles, usage


def _glue_and_ensembles(pkg: Package, name: str):
    """The family's glue graphs, ensemble steps and usage text (see families.Family.triton);
    a family without them serves its graphs as separate models."""
    spec = families.get(pkg.kind).triton
    if spec:
        return families.resolve(spec)(pkg, name)
    graphs = " and ".join(f"`{name}_{g}`" for g in pkg.graphs)
    return {}, {}, f"{graphs} are separate models (see the table for their tensors)."


def _readme(pkg: Package, name: str, configs: Dict[str, Dict], usage: str, precision: str, device: str) -> str:
    def io(cfg, key):
        return ", ".join(f"{t['name']} {t['data_type'][5:].lower()}{t['dims']}" for t in cfg[key])

    rows = "\n".join(f"| {m} | {c['platform']} | {io(c, 'input')} | {io(c, 'output')} | {c['max_batch_size']} |"
                     for m, c in configs.items())
    return (f"# Triton model repository: {name} ({pkg.kind})\n\n"
            f"Made by `stylert triton` from the {pkg.kind} package ({precision}, instances on {device}).\n\n"
            f"    docker run --gpus all --rm -p 8000:8000 -p 8001:8001 -v $PWD:/models \\\n"
            f"        nvcr.io/nvidia/tritonserver:<yy.mm>-py3 tritonserver --model-repository=/models\n\n"
            f"{usage}\n\n"
            "TensorRT plans (`model.smXY.plan`) only load on a GPU of that compute capability with the\n"
            "TensorRT version they were built with: build them with the TensorRT of your Triton release.\n\n"
            "| model | platform | inputs (dims after the batch) | outputs | max batch |\n|---|---|---|---|---:|\n"
            f"{rows}\n")

"""Triton's ``onnxruntime`` backend for the local development server, as a Python-based
backend: Triton runs ``backends/<name>/model.py`` through its python backend for every model
whose backend is <name> ("Python-based Backends", triton-inference-server/python_backend
README), and a model with ``platform: "onnxruntime_onnx"`` has the backend ``onnxruntime``.
So the repositories ``stylert triton --device cpu`` writes load unchanged, and this file runs
each ``model.onnx`` with ONNX Runtime's CPU provider.

It models the C++ backend (triton-inference-server/onnxruntime_backend, src/onnxruntime.cc:
ModelState::ModelState, ModelState::LoadModel, ModelInstanceState::ValidateInputs and
ValidateOutputs; src/onnx_utils.cc: CompareDimsSupported; triton-inference-server/backend,
src/backend_common.cc: CheckAllowedModelInput/Output) where a config can be wrong, with the
same messages:

- the file: ``default_model_filename`` (else ``model.onnx``) in the version folder; a folder
  there means ``<folder>/model.onnx``; missing: "unable to find '...'".
- inputs: the config's inputs (less the ``optional`` ones) must be as many as the model's;
  each must name a model input or an overridable initializer ("unexpected inference input
  'x', allowed inputs are: ..."); an optional input is refused when max_batch_size > 0; the
  data_type must be the model's exactly; the dims (``reshape.shape`` when given) must match
  the model's with the batch dimension first when max_batch_size > 0 and a -1 in the *model*
  matching anything (compare_exact false); a scalar model input needs dims of 1s.
- outputs: each config output must be a model output (a subset is fine), of the model's
  type, and its dims must equal the model's exactly, -1 for -1 (compare_exact true).
- batching: max_batch_size > 0 needs every configured tensor's first model dimension to be
  -1 ("for the model to support batching the shape should have at least 1 dimension and the
  first dimension must be -1").
- session options: ``optimization.graph.level`` (-1 basic, 1 extended, 2 none, else all),
  the ``execution_mode`` (0 or 1, anything else refused), ``intra_op_thread_count`` and
  ``inter_op_thread_count`` parameters; a ``cpu_execution_accelerator`` other than
  ``openvino`` is refused ("unknown Execution Accelerator"; ``openvino`` is accepted and runs
  on the plain CPU provider here); GPU accelerators only concern GPU instances.

Not modelled: GPU instances (refused: this server runs ONNX Runtime on the CPU; GPU
repositories belong in NGC's Triton container), the CUDA, TensorRT and OpenVINO providers,
string tensors, sequence batching and its state tensors, ragged and batch inputs, and
auto-complete of configs without inputs/outputs (stylert always writes them).

Execution: Triton's dynamic batcher hands several requests to one ``execute`` call.
Requests whose inputs agree in everything after the batch dimension are concatenated and run
as one batch, then the outputs are split by each request's batch size, as the C++ backend's
collector and responder do. The C++ backend fails the whole batch when ONNX Runtime fails;
here a failed batch is run again one request at a time, so each request gets its own result
or its own TritonError (and the server keeps serving either way).
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

try:  # inside Triton's python backend stub
    import triton_python_backend_utils as pb_utils
except ImportError:  # imported by the tests to check the validation rules
    pb_utils = None

# ONNX Runtime's tensor type strings -> Triton's config data types
ONNX_TO_CONFIG = {
    "tensor(bool)": "TYPE_BOOL", "tensor(uint8)": "TYPE_UINT8", "tensor(uint16)": "TYPE_UINT16",
    "tensor(uint32)": "TYPE_UINT32", "tensor(uint64)": "TYPE_UINT64", "tensor(int8)": "TYPE_INT8",
    "tensor(int16)": "TYPE_INT16", "tensor(int32)": "TYPE_INT32", "tensor(int64)": "TYPE_INT64",
    "tensor(float16)": "TYPE_FP16", "tensor(float)": "TYPE_FP32", "tensor(double)": "TYPE_FP64",
    "tensor(string)": "TYPE_STRING", "tensor(bfloat16)": "TYPE_BF16",
}
GRAPH_LEVELS = {-1: "ORT_ENABLE_BASIC", 1: "ORT_ENABLE_EXTENDED", 2: "ORT_DISABLE_ALL"}


class ConfigError(Exception):
    """A config the C++ backend would refuse (the model does not load)."""


# -- validation (pure: config dict + the session's tensors) -------------------------------
Tensors = Dict[str, Tuple[str, List[int]]]  # name -> (ONNX type string, dims with -1 for symbolic)


def session_tensors(session) -> Tuple[Tensors, Tensors, Tensors]:
    """(inputs, outputs, overridable initializers) of an ONNX Runtime session."""
    def table(args):
        return {a.name: (a.type, [d if isinstance(d, int) and d >= 0 else -1 for d in (a.shape or [])])
                for a in args}
    overridable = session.get_overridable_initializers() if hasattr(session, "get_overridable_initializers") else []
    return table(session.get_inputs()), table(session.get_outputs()), table(overridable)


def _shape(dims: Sequence[int]) -> str:
    return "[" + ",".join(str(int(d)) for d in dims) + "]"


def _dims(io: Dict) -> List[int]:
    reshape = io.get("reshape")
    dims = reshape.get("shape", []) if isinstance(reshape, dict) else io.get("dims", [])
    return [int(d) for d in dims]  # protobuf's JSON writes int64 as strings


def compare_dims(model: str, tensor: str, model_shape: List[int], dims: List[int], max_batch: int,
                 exact: bool) -> None:
    """onnx_utils.cc CompareDimsSupported: a -1 in the model matches any configured size
    unless ``exact``; with batching the model's first dimension must be -1."""
    if max_batch > 0:
        if not model_shape or model_shape[0] != -1:
            raise ConfigError(f"model '{model}', tensor '{tensor}': for the model to support batching the shape "
                              f"should have at least 1 dimension and the first dimension must be -1; but shape "
                              f"expected by the model is {_shape(model_shape)}")
        full = [-1] + dims
        ok = len(model_shape) == len(full) and all(m == f for m, f in zip(model_shape, full) if exact or m != -1)
        if not ok:
            raise ConfigError(f"model '{model}', tensor '{tensor}': the model expects {len(model_shape)} dimensions "
                              f"(shape {_shape(model_shape)}) but the model configuration specifies {len(full)} "
                              f"dimensions (an initial batch dimension because max_batch_size > 0 followed by the "
                              f"explicit tensor shape, making complete shape {_shape(full)})")
    else:
        ok = len(model_shape) == len(dims) and all(m == d for m, d in zip(model_shape, dims) if exact or m != -1)
        if not ok:
            raise ConfigError(f"model '{model}', tensor '{tensor}': the model expects {len(model_shape)} dimensions "
                              f"(shape {_shape(model_shape)}) but the model configuration specifies {len(dims)} "
                              f"dimensions (shape {_shape(dims)})")


def _scalar_dims(model: str, tensor: str, dims: List[int]) -> None:
    if any(d != 1 for d in dims):
        raise ConfigError(f"unable to load model '{model}', scalar tensor '{tensor}', should only provide 1 in the "
                          f"model configuration when the model doesn't support batching. Model configuration "
                          f"provided: {_shape(dims)}.")


def _allowed(kind: str, name: str, allowed) -> ConfigError:
    return ConfigError(f"unexpected inference {kind} '{name}', allowed {kind}s are: {', '.join(sorted(allowed))}")


def validate(config: Dict, inputs: Tensors, outputs: Tensors, overridable: Optional[Tensors] = None) -> None:
    """Raises ConfigError where the C++ backend refuses ``config`` for a model with these
    tensors (ValidateInputs, then ValidateOutputs)."""
    model, max_batch = config.get("name", "?"), int(config.get("max_batch_size", 0))
    overridable = overridable or {}
    ins = config.get("input", [])
    expected = sum(1 for io in ins if not io.get("optional", False)) + len(config.get("batch_input", []))
    if len(inputs) != expected:
        raise ConfigError(f"unable to load model '{model}', configuration expects {expected} inputs, model "
                          f"provides {len(inputs)}")
    known = {**inputs, **overridable}
    for io in ins:
        if io.get("optional", False) and max_batch != 0:
            raise ConfigError(f"unable to load model '{model}', optional input '{io['name']}' is not supported for "
                              f"models that support batching")
        _check_tensor(model, "input", io, known, max_batch, exact=False)  # inputs: compared loosely
    for io in config.get("output", []):
        _check_tensor(model, "output", io, outputs, max_batch, exact=True)


def _check_tensor(model: str, kind: str, io: dict, known: dict, max_batch: int, exact: bool) -> None:
    """One config input or output against the graph's tensor of that name: name, type, dims."""
    name, dtype = io["name"], io.get("data_type", "TYPE_INVALID")
    if name not in known:
        raise _allowed(kind, name, known)
    _check_type(model, kind, name, dtype, known[name][0])
    model_shape = known[name][1]
    if model_shape:
        compare_dims(model, name, model_shape, _dims(io), max_batch, exact=exact)
    else:
        _scalar_dims(model, name, _dims(io))


def _check_type(model: str, kind: str, name: str, dtype: str, onnx_type: str) -> None:
    if dtype not in ONNX_TO_CONFIG.values():
        raise ConfigError(f"unsupported datatype {dtype} for {kind} '{name}' for model '{model}'")
    if ONNX_TO_CONFIG.get(onnx_type) != dtype:
        provided = ONNX_TO_CONFIG.get(onnx_type, "TYPE_INVALID")
        raise ConfigError(f"unable to load model '{model}', configuration expects datatype {dtype} for {kind} "
                          f"'{name}', model provides {provided}")


def _int_parameter(config: Dict, key: str) -> int:
    """TryParseModelStringParameter: parameters { key: K value { string_value: "N" } }."""
    value = config.get("parameters", {}).get(key)
    if value is None:
        return 0
    text = value.get("string_value", "") if isinstance(value, dict) else str(value)
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"failed to convert '{text}' to integral number") from None


def session_options(config: Dict, ort):
    """ONNX Runtime session options from the config, as ModelState::ModelState reads them."""
    so = ort.SessionOptions()
    opt = config.get("optimization", {}) or {}
    level = int((opt.get("graph") or {}).get("level", 0))
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, GRAPH_LEVELS.get(level, "ORT_ENABLE_ALL"))
    mode = _int_parameter(config, "execution_mode")
    if mode not in (0, 1):
        raise ConfigError(f"Invalid configuration value provided. Expected values for  execution_mode are 0 or 1 "
                          f"but got {mode} .")
    so.execution_mode = ort.ExecutionMode.ORT_PARALLEL if mode else ort.ExecutionMode.ORT_SEQUENTIAL
    for key, attr in (("intra_op_thread_count", "intra_op_num_threads"),
                      ("inter_op_thread_count", "inter_op_num_threads")):
        n = _int_parameter(config, key)
        if n > 0:
            setattr(so, attr, n)
    for ea in ((opt.get("execution_accelerators") or {}).get("cpu_execution_accelerator") or []):
        if ea.get("name") != "openvino":
            raise ConfigError(f"unknown Execution Accelerator '{ea.get('name')}' is requested")
    return so


def model_path(repository: str, version: str, config: Dict) -> str:
    """ModelState::LoadModel: the version folder's default_model_filename (or model.onnx)."""
    path = os.path.join(repository, str(version), config.get("default_model_filename") or "model.onnx")
    if os.path.isdir(path):
        path = os.path.join(path, "model.onnx")
    if not os.path.exists(path):
        raise ConfigError(f"unable to find '{path}' for model instance '{config.get('name', '?')}'")
    return path


# -- the backend -----------------------------------------------------------------------
class TritonPythonModel:
    def initialize(self, args: Dict[str, str]) -> None:
        import onnxruntime as ort

        config = json.loads(args["model_config"])
        self.name = config.get("name", args.get("model_name", "?"))
        if args.get("model_instance_kind", "CPU") not in ("CPU", "MODEL"):
            raise pb_utils.TritonModelException(
                f"model '{self.name}': this development backend runs ONNX Runtime on the CPU only "
                f"(instance kind {args.get('model_instance_kind')}); write the repository with --device cpu, "
                f"or serve GPU repositories with NVIDIA's Triton container")
        try:
            options = session_options(config, ort)
            path = model_path(args["model_repository"], args["model_version"], config)
            try:
                self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            except Exception as e:  # a file ONNX Runtime cannot load
                raise ConfigError(f"onnx runtime error: {e}") from None
            validate(config, *session_tensors(self.session))
        except ConfigError as e:
            raise pb_utils.TritonModelException(str(e)) from None
        self.max_batch = int(config.get("max_batch_size", 0))
        self.inputs = [io["name"] for io in config.get("input", [])]
        self.outputs = [io["name"] for io in config.get("output", [])]

    # requests -> responses
    def execute(self, requests):
        responses: List = [None] * len(requests)
        groups: Dict[tuple, List[int]] = {}
        feeds: Dict[int, Dict[str, np.ndarray]] = {}
        for i, request in enumerate(requests):
            try:
                feeds[i] = self._feeds(request)
            except Exception as e:
                responses[i] = self._error(str(e))
                continue
            key = (tuple((n, a.shape[1:], a.dtype.str) for n, a in sorted(feeds[i].items()))
                   if self.max_batch > 0 else ("alone", i))
            groups.setdefault(key, []).append(i)
        for members in groups.values():
            if len(members) > 1 and self._run_batch(requests, members, feeds, responses):
                continue
            for i in members:  # alone: its own result or its own error
                try:
                    responses[i] = self._response(requests[i], self._run(feeds[i]))
                except Exception as e:
                    responses[i] = self._error(f"onnx runtime error: {e}")
        return responses

    def _feeds(self, request) -> Dict[str, np.ndarray]:
        out = {}
        for name in self.inputs:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is not None:  # absent: an optional input (Triton checks the others)
                out[name] = tensor.as_numpy()
        return out

    def _run(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        return dict(zip(self.outputs, self.session.run(self.outputs, feeds)))

    def _run_batch(self, requests, members, feeds, responses) -> bool:
        """One run for requests of equal shapes; False when it fails (run them one by one)."""
        sizes = [next(iter(feeds[i].values())).shape[0] if feeds[i] else 0 for i in members]
        try:
            joined = {n: np.concatenate([feeds[i][n] for i in members]) for n in feeds[members[0]]}
            got = self._run(joined)
            total = sum(sizes)
            if any(a.ndim == 0 or a.shape[0] != total for a in got.values()):
                return False
        except Exception:
            return False
        edges = np.cumsum([0] + sizes)
        for k, i in enumerate(members):
            responses[i] = self._response(requests[i], {n: a[edges[k]:edges[k + 1]] for n, a in got.items()})
        return True

    def _response(self, request, outputs: Dict[str, np.ndarray]):
        wanted = request.requested_output_names() if hasattr(request, "requested_output_names") else None
        names = [n for n in self.outputs if not wanted or n in wanted]
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(n, np.ascontiguousarray(outputs[n]))
                                                          for n in names])

    @staticmethod
    def _error(message: str):
        code = getattr(getattr(pb_utils, "TritonError", None), "INVALID_ARG", None)
        error = pb_utils.TritonError(message, code) if code is not None else pb_utils.TritonError(message)
        return pb_utils.InferenceResponse(output_tensors=[], error=error)

    def finalize(self) -> None:
        self.session = None

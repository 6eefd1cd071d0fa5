"""A stand-in for onnxruntime-gpu's InferenceSession on a GPU provider, where it matters to
stylert: which provider options it accepts, what it does when one is refused, and on which
stream an I/O-bound run reads and writes device memory (tests/fake_cuda.py's device).

Modelled on the onnxruntime-gpu 1.31.1 wheel:
- Option keys: the TensorRT provider's parser in the Python binding accepts exactly the keys
  below and throws "Invalid TensorRT EP option" for any other (strings of
  onnxruntime/capi/onnxruntime_pybind11_state.*.so, around that message); the CUDA
  provider's keys are those of CUDAExecutionProviderInfo (strings of
  libonnxruntime_providers_cuda.so); what the real CUDA parser does with an unknown key was
  not found in the binary, so the stand-in refusing one is stricter than ORT.
  tests/test_gpu_streams.py checks both tables against the installed wheel's binaries.
- Fallback: InferenceSession.__init__ (onnxruntime_inference_collection.py) catches the
  failure, prints "EP Error" and rebuilds the session on CUDA+CPU (when TensorRT was asked)
  or CPU, with no options, unless enable_fallback=0 is passed.
- An I/O-bound run (run_with_iobinding) reads bound device inputs and writes its output on
  the provider's compute stream: user_compute_stream when given.
The numerics are ONNX Runtime's CPU provider on the same model file.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

import fake_cuda

TENSORRT_KEYS = frozenset("""
device_id user_compute_stream trt_max_partition_iterations trt_min_subgraph_size trt_max_workspace_size
trt_fp16_enable trt_bf16_enable trt_int8_enable trt_int8_calibration_table_name
trt_int8_use_native_calibration_table trt_dla_enable trt_dla_core trt_dump_subgraphs trt_engine_cache_enable
trt_engine_cache_path trt_engine_cache_prefix trt_engine_decryption_enable trt_engine_decryption_lib_path
trt_force_sequential_engine_build trt_context_memory_sharing_enable trt_layer_norm_fp32_fallback
trt_timing_cache_enable trt_timing_cache_path trt_force_timing_cache trt_detailed_build_log
trt_build_heuristics_enable trt_sparsity_enable trt_builder_optimization_level trt_auxiliary_streams
trt_tactic_sources trt_extra_plugin_lib_paths trt_profile_min_shapes trt_profile_max_shapes
trt_profile_opt_shapes trt_cuda_graph_enable trt_dump_ep_context_model trt_ep_context_file_path
trt_ep_context_embed_mode trt_weight_stripped_engine_enable trt_onnx_model_folder_path trt_onnx_bytestream
trt_onnx_bytestream_size trt_engine_hw_compatible trt_op_types_to_exclude trt_preview_features
""".split())
CUDA_KEYS = frozenset("""
device_id has_user_compute_stream user_compute_stream gpu_mem_limit arena_extend_strategy cudnn_conv_algo_search
do_copy_in_default_stream gpu_external_alloc gpu_external_free gpu_external_empty_cache cudnn_conv_use_max_workspace
enable_cuda_graph cudnn_conv1d_pad_to_nc1d tunable_op_enable tunable_op_tuning_enable
tunable_op_max_tuning_duration_ms enable_skip_layer_norm_strict_mode prefer_nhwc use_ep_level_unified_stream
use_tf32 sdpa_kernel fuse_conv_bias
""".split())
KEYS = {"TensorrtExecutionProvider": TENSORRT_KEYS, "CUDAExecutionProvider": CUDA_KEYS}
SHORT = {"TensorrtExecutionProvider": "TensorRT", "CUDAExecutionProvider": "CUDA"}
REAL_SESSION = ort.InferenceSession
TYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(float16)": np.float16}


class _OrtValue:
    def __init__(self, array):
        self.array = array

    def data_ptr(self):
        return self.array.data.ptr

    def shape(self):
        return list(self.array.shape)

    def data_type(self):
        return {np.dtype(v): k for k, v in TYPES.items()}[self.array.dtype]


class _Binding:
    def __init__(self):
        self.inputs, self.output, self.outputs = {}, None, []

    def bind_cpu_input(self, name, array):
        self.inputs[name] = ("host", np.array(array))

    def bind_input(self, name, device, device_id, dtype, shape, ptr):
        self.inputs[name] = ("device", ptr, tuple(shape), np.dtype(dtype))

    def bind_output(self, name, device, device_id=0, dtype=None, shape=None, ptr=None):
        self.output = (name, ptr, tuple(shape) if shape else None, dtype)

    def get_outputs(self):
        return self.outputs


class Session:
    """InferenceSession on TensorRT/CUDA providers over fake_cuda's device."""

    log = []  # what each constructed session printed (the real one prints to stdout)

    def __init__(self, path, sess_options=None, providers=None, provider_options=None, **kwargs):
        self.cpu = REAL_SESSION(path, providers=["CPUExecutionProvider"])
        self._providers, self.options = [], {}
        try:
            for entry in providers:
                name, opts = entry if isinstance(entry, tuple) else (entry, {})
                bad = set(opts) - KEYS.get(name, set(opts))
                if bad:
                    raise RuntimeError(f"Invalid {SHORT[name]} EP option: {sorted(bad)[0]}")
                self._providers.append(name)
                self.options[name] = dict(opts)
        except RuntimeError as e:
            if int(kwargs.get("enable_fallback", 1)) != 1:
                raise
            Session.log.append(f"EP Error {e} when using {providers}")
            names = [p if isinstance(p, str) else p[0] for p in providers]
            self._providers = (["CUDAExecutionProvider", "CPUExecutionProvider"]
                               if "TensorrtExecutionProvider" in names else ["CPUExecutionProvider"])
            self.options = {}
        self._shapes = {}

    def get_providers(self):
        return list(self._providers)

    def get_inputs(self):
        return self.cpu.get_inputs()

    def get_outputs(self):
        return self.cpu.get_outputs()

    def run(self, names, feeds, run_options=None):
        return self.cpu.run(names, feeds)

    def io_binding(self):
        return _Binding()

    def _stream(self):
        ptr = self.options.get(self._providers[0], {}).get("user_compute_stream")
        return fake_cuda.ExternalStream(int(ptr)) if ptr else fake_cuda.NULL

    def _output_shape(self, shapes):
        key = tuple(sorted(shapes.items()))
        if key not in self._shapes:
            zeros = {i.name: np.zeros(shapes[i.name], TYPES[i.type]) for i in self.cpu.get_inputs()}
            self._shapes[key] = self.cpu.run(None, zeros)[0].shape
        return self._shapes[key]

    def run_with_iobinding(self, binding, run_options=None):
        shapes = {n: (v[1].shape if v[0] == "host" else v[2]) for n, v in binding.inputs.items()}
        name, ptr, _, _ = binding.output
        shape = self._output_shape(shapes)
        # The session writes its output type; a bound buffer is read as the bytes it holds (the
        # real one takes the pointer and the declared type on trust).
        out = fake_cuda.ndarray(shape, TYPES[self.cpu.get_outputs()[0].type]) if ptr is None else None
        dst = out._buf if out is not None else fake_cuda.MEMORY[ptr]

        def run():
            feeds = {n: (v[1] if v[0] == "host" else
                         np.array(fake_cuda.MEMORY[v[1]]).reshape(-1).view(v[3])[:int(np.prod(v[2]))].reshape(v[2]))
                     for n, v in binding.inputs.items()}
            result = self.cpu.run(None, feeds)[0]
            if dst.dtype != result.dtype:
                raise RuntimeError(f"output bound as {dst.dtype}, the graph gives {result.dtype}")
            dst.reshape(shape)[...] = result

        self._stream().enqueue(run)
        binding.outputs = [_OrtValue(out)] if out is not None else []


def install(monkeypatch, providers=("CUDAExecutionProvider",)):
    """This session as onnxruntime's, with ``providers`` listed and working."""
    from stylert.backends import onnxrt

    monkeypatch.setattr(onnxrt.ort, "InferenceSession", Session)
    monkeypatch.setattr(onnxrt.ort, "get_available_providers",
                        lambda: [*providers, "CPUExecutionProvider"])
    onnxrt.works.cache_clear()
    Session.log.clear()

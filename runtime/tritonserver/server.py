"""Setting up and running a local tritonserver (see the package doc).

Setup, once per pytriton version, Python version and machine, under
``~/.cache/stylert/tritonserver/`` (``$STYLERT_TRITONSERVER_HOME`` to move it; not under
``$STYLERT_CACHE``, which the tests point at a fresh folder every run): a venv with
``nvidia-pytriton`` and ``onnxruntime`` from PyPI (its own venv: pytriton pins numpy<2), then
``bin/``, ``backends/`` and ``caches/`` copied out of ``pytriton/tritonserver`` with the python
backend stub built for this Python. Each start writes the shim as ``backends/onnxruntime``.

Start: ``bin/tritonserver`` with ``PYTHONPATH`` = the venv's site-packages (the stubs import
numpy and onnxruntime from there), ``LD_LIBRARY_PATH`` = the venv interpreter's own LIBDIR (the
stub must load that interpreter's libpython, not the system's) and ``nvidia_pytriton.libs``
(the server's bundled libraries); HTTP and gRPC on the address given (loopback by default),
metrics off, so nothing else listens.
"""

from __future__ import annotations

import collections
import errno
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Dict, List, Optional, Sequence

from .. import folders
from ..errors import TritonError

PYTRITON = "0.7.0"  # ships tritonserver 2.51.0 with the python backend and stubs for Python 3.8-3.13
ONNXRUNTIME = "1.32.0"  # what the shim runs; a wheel that works with pytriton's numpy<2
STUB_PYTHONS = ((3, 8), (3, 9), (3, 10), (3, 11), (3, 12), (3, 13))
MACHINES = ("x86_64", "aarch64")
SHIM = Path(__file__).resolve().parent / "backends" / "onnxruntime" / "model.py"
MARKER = "stylert-setup.json"


class ServerError(TritonError):
    """The local Triton server cannot be set up or started (one line, exit 2)."""


def home() -> Path:
    """Where the setups live: $STYLERT_TRITONSERVER_HOME, else the XDG cache's stylert/tritonserver."""
    if os.environ.get("STYLERT_TRITONSERVER_HOME"):
        return Path(os.environ["STYLERT_TRITONSERVER_HOME"]).absolute()
    return Path(folders.xdg_cache_home()) / "stylert" / "tritonserver"


def _unsupported() -> Optional[str]:
    machine, version = platform.machine().lower(), sys.version_info[:2]
    if not sys.platform.startswith("linux") or machine not in MACHINES:
        return f"PyPI's tritonserver runs on Linux x86-64 and aarch64 only (here: {sys.platform} {machine})"
    if version not in STUB_PYTHONS:
        return (f"nvidia-pytriton {PYTRITON} has python backend stubs for Python 3.8-3.13 only "
                f"(here: {version[0]}.{version[1]})")
    return None


class Install:
    """One setup: the venv and the server folder copied out of it."""

    def __init__(self, root: Path):
        self.root = root
        self.venv = root / "venv"
        self.python = self.venv / "bin" / "python"
        self.server = root / "server"
        self.info: Dict = json.loads((root / MARKER).read_text()) if (root / MARKER).exists() else {}

    @property
    def site_packages(self) -> Path:
        return Path(self.info["site_packages"])

    def ok(self) -> bool:
        return bool(self.info) and (self.server / "bin" / "tritonserver").is_file() and \
            (self.server / "backends" / "python" / "triton_python_backend_stub").is_file() and self.python.exists()

    def environment(self, base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        env = dict(os.environ if base is None else base)
        libs = [p for p in (self.info.get("libdir"), str(self.site_packages / "nvidia_pytriton.libs")) if p]
        env["LD_LIBRARY_PATH"] = os.pathsep.join(libs + [p for p in [env.get("LD_LIBRARY_PATH")] if p])
        env["PYTHONPATH"] = str(self.site_packages)  # replaced, not extended: the stubs import only from there
        env["PATH"] = os.pathsep.join([str(self.venv / "bin"), env.get("PATH", "")])
        env["VIRTUAL_ENV"] = str(self.venv)
        env.pop("PYTHONHOME", None)
        return env

    def install_shim(self) -> Path:
        """backends/onnxruntime/model.py = this package's shim (replaced atomically when it changed)."""
        dest = self.server / "backends" / "onnxruntime" / "model.py"
        text = SHIM.read_bytes()
        if not dest.exists() or dest.read_bytes() != text:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".model.py.{os.getpid()}")
            tmp.write_bytes(text)
            os.replace(tmp, dest)
        return dest


def install_root() -> Path:
    return home() / f"pytriton-{PYTRITON}-py{sys.version_info[0]}{sys.version_info[1]}-{platform.machine().lower()}"


def installed() -> Optional[Install]:
    inst = Install(install_root())
    return inst if inst.ok() else None


def install(say=None) -> Install:
    """The setup, made once (under a lock; a half-made one is made again)."""
    problem = _unsupported()
    if problem:
        raise ServerError(f"cannot set up a local Triton server: {problem}; serve the repository with NVIDIA's "
                          f"container (nvcr.io/nvidia/tritonserver) instead")
    root = install_root()
    inst = Install(root)
    if inst.ok():
        return inst
    with folders.locked(root.parent / f".{root.name}.lock"):
        inst = Install(root)
        if inst.ok():  # another process made it while we waited
            return inst
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        try:
            _build(root, say or (lambda line: None))
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
    return Install(root)


def _run(cmd: Sequence[str], what: str, hint: str, timeout: float = 1800) -> str:
    try:
        done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ServerError(f"cannot set up a local Triton server: {what} took over {timeout:.0f} s ({hint})") from None
    except OSError as e:
        raise ServerError(f"cannot set up a local Triton server: {what}: {e.strerror or e}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines()
                 if line.strip() and not line.lstrip().startswith("WARNING")]
        last = lines[-1] if lines else f"exit code {done.returncode}"
        raise ServerError(f"cannot set up a local Triton server: {what} failed ({hint}): {last}")
    return done.stdout


def _build(root: Path, say) -> None:
    venv = root / "venv"
    say(f"setting up a local Triton server in {root} (once): a venv with nvidia-pytriton=={PYTRITON} and "
        f"onnxruntime=={ONNXRUNTIME} from PyPI")
    _run([sys.executable, "-m", "venv", str(venv)], "creating a venv", "is the venv module installed?")
    python = str(venv / "bin" / "python")
    _run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
          f"nvidia-pytriton=={PYTRITON}", f"onnxruntime=={ONNXRUNTIME}"],
         f"pip install nvidia-pytriton=={PYTRITON} onnxruntime=={ONNXRUNTIME}", "no network to PyPI?")
    facts = json.loads(_run([python, "-c", (
        "import json, sys, sysconfig, numpy, onnxruntime, pytriton, os\n"
        "print(json.dumps({'site_packages': sysconfig.get_paths()['purelib'],"
        " 'libdir': sysconfig.get_config_var('LIBDIR') if sysconfig.get_config_var('Py_ENABLE_SHARED') else None,"
        " 'python': '%d.%d' % sys.version_info[:2], 'numpy': numpy.__version__,"
        " 'onnxruntime': onnxruntime.__version__, 'pytriton_dir': os.path.dirname(pytriton.__file__)}))")],
        "checking the venv", "the wheels installed but do not import").strip().splitlines()[-1])
    dist = Path(facts.pop("pytriton_dir")) / "tritonserver"
    stub = dist / "python_backend_stubs" / facts["python"] / "triton_python_backend_stub"
    if not (dist / "bin" / "tritonserver").is_file() or not stub.is_file():
        raise ServerError(f"cannot set up a local Triton server: {dist} has no tritonserver or no python backend stub "
                          f"for Python {facts['python']}")
    server = root / "server"
    for part in ("bin", "backends", "caches"):
        if (dist / part).exists():
            shutil.copytree(dist / part, server / part, symlinks=True)
    shutil.copy2(stub, server / "backends" / "python" / "triton_python_backend_stub")
    facts.update(pytriton=PYTRITON, tritonserver="2.51.0", created=time.strftime("%Y-%m-%dT%H:%M:%S"))
    tmp = root / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(facts, indent=1) + "\n")
    os.replace(tmp, root / MARKER)  # last: its presence means the setup is whole
    say(f"local Triton server set up in {root}")


# -- repositories and ports -------------------------------------------------------------
def check_repositories(paths: Sequence[str]) -> List[Path]:
    """Model repositories this server can load: folders with <model>/config.pbtxt, CPU instances,
    no TensorRT plans (the shim runs ONNX Runtime on the CPU)."""
    if not paths:
        raise ServerError("stylert triton serve needs a model repository: write one with "
                          "`stylert triton PKG -o REPO --device cpu`")
    out = []
    for p in paths:
        repo = Path(p)
        configs = sorted(repo.glob("*/config.pbtxt")) if repo.is_dir() else []
        if not configs:
            raise ServerError(f"{p} is not a Triton model repository (no <model>/config.pbtxt in it): write one with "
                              f"`stylert triton PKG -o {p} --device cpu`")
        for cfg in configs:
            text = cfg.read_text(errors="replace")
            if re.search(r"\bKIND_GPU\b", text):
                raise ServerError(f"{cfg.parent.name} in {p} has GPU instances (KIND_GPU), which this CPU development "
                                  f"server cannot run: write the repository with --device cpu, or serve it with "
                                  f"NVIDIA's container (nvcr.io/nvidia/tritonserver)")
            if re.search(r'platform:\s*"tensorrt_plan"', text):
                raise ServerError(f"{cfg.parent.name} in {p} is a TensorRT plan, which needs a GPU and NVIDIA's "
                                  f"container: write the repository with --device cpu for this server")
        out.append(repo.resolve())
    return out


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def check_port(address: str, port: int, option: str) -> None:
    """Refuses a port something already listens on, before the server starts."""
    with socket.socket(_family(address), socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed socket in TIME_WAIT is no user
        try:
            s.bind((address, port))
        except socket.gaierror:
            raise ServerError(f"unknown address {address}: use 127.0.0.1 (this machine only) or an address of "
                              f"this machine") from None
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ServerError(f"{address}:{port} is already in use (another server?): choose another port "
                                  f"with {option}") from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise ServerError(f"{address} is not an address of this machine: use 127.0.0.1 (this machine "
                                  f"only) or one of its own addresses") from None
            if e.errno == errno.EACCES:
                raise ServerError(f"cannot listen on {address}:{port}: permission denied (ports below 1024 need "
                                  f"root): choose another port with {option}") from None
            raise ServerError(f"cannot listen on {address}:{port}: {e.strerror or e}") from None


def free_port(address: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the tests' servers)."""
    with socket.socket(_family(address), socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


# -- the server process -----------------------------------------------------------------
_LOG_LINE = re.compile(r"^[IWEF]\d{4} [\d:.]+ +\d+ [^\]]+\] ")
_HARMLESS = ("CUDA driver", "CudaDriverHelper", "unable to create stream", "pinned memory", "libcuda", "GPU metrics")


class Server:
    """``tritonserver`` on ``repos``, its output copied line by line to ``log`` (a text
    stream, or None to keep only the tail); start with ``start()`` or ``with``."""

    def __init__(self, inst: Install, repos: Sequence[Path], *, address: str = "127.0.0.1", http_port: int = 8000,
                 grpc_port: int = 8001, log: Optional[IO[str]] = None, extra_args: Sequence[str] = ()):
        self.inst, self.repos, self.address = inst, [Path(r) for r in repos], address
        self.http_port, self.grpc_port, self.log, self.extra_args = http_port, grpc_port, log, list(extra_args)
        self.proc: Optional[subprocess.Popen] = None
        self.tail: collections.deque = collections.deque(maxlen=400)
        self._reader: Optional[threading.Thread] = None
        self.started = 0.0

    @property
    def host(self) -> str:
        return f"[{self.address}]" if ":" in self.address else self.address

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    def command(self) -> List[str]:
        server = self.inst.server
        return [str(server / "bin" / "tritonserver"),
                *[f"--model-repository={r}" for r in self.repos],
                f"--backend-directory={server / 'backends'}", f"--cache-directory={server / 'caches'}",
                f"--http-address={self.address}", f"--http-port={self.http_port}",
                f"--grpc-address={self.address}", f"--grpc-port={self.grpc_port}",
                "--allow-metrics=false", *self.extra_args]

    def start(self) -> "Server":
        self.inst.install_shim()
        self.tail.clear()
        self.started = time.perf_counter()
        try:
            self.proc = subprocess.Popen(self.command(), env=self.inst.environment(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                         errors="replace", bufsize=1, start_new_session=True)
        except OSError as e:
            raise ServerError(f"cannot start {self.command()[0]}: {e.strerror or e} (remove "
                              f"{self.inst.root} to set it up again)") from None
        self._reader = threading.Thread(target=self._read, name="tritonserver-log", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.tail.append(line.rstrip("\n"))
            if self.log is not None:
                try:
                    self.log.write(line)
                    self.log.flush()
                except (OSError, ValueError):
                    pass

    def problem(self) -> str:
        """The server's first error line (the reason a model did not load), else its last line."""
        errors = [_LOG_LINE.sub("", line).strip().strip('"') for line in self.tail if line.startswith("E")]
        errors = [e for e in errors if not any(h in e for h in _HARMLESS)]
        loads = [e for e in errors if e.startswith("failed to load")]
        if loads or errors:
            return (loads or errors)[0]
        lines = [line for line in self.tail if line.strip()]
        return lines[-1].strip() if lines else "no output"

    def request(self, path: str, body: Optional[bytes] = None, timeout: float = 5.0):
        """(status, parsed JSON or None) of an HTTP request to the server."""
        req = urllib.request.Request(self.http_url + path, data=body, method="POST" if body is not None else "GET")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                data = r.read()
                return r.status, (json.loads(data) if data else None)
        except urllib.error.HTTPError as e:
            data = e.read()
            try:
                return e.code, json.loads(data) if data else None
            except ValueError:
                return e.code, None

    def wait_ready(self, timeout: float = 300.0) -> float:
        """Seconds from start until /v2/health/ready answers 200 (every model loaded)."""
        deadline = self.started + timeout
        while True:
            if self.proc.poll() is not None:
                self._reader.join(timeout=2)
                raise ServerError(f"tritonserver stopped before it was ready (exit code {self.proc.returncode}): "
                                  f"{self.problem()}")
            try:
                if self.request("/v2/health/ready", timeout=1.0)[0] == 200:
                    return time.perf_counter() - self.started
            except (OSError, ValueError):
                pass
            if time.perf_counter() > deadline:
                raise ServerError(f"tritonserver was not ready after {timeout:.0f} s: {self.problem()}")
            time.sleep(0.05)

    def wait_loaded(self, timeout: float = 300.0) -> List[Dict]:
        """The repository index once no model is loading any more (for servers started with
        --exit-on-error=false, whose health stays 'not ready' while a model failed)."""
        deadline = self.started + timeout
        while True:
            if self.proc.poll() is not None:
                raise ServerError(f"tritonserver stopped (exit code {self.proc.returncode}): {self.problem()}")
            try:
                status, index = self.request("/v2/repository/index", body=b"{}", timeout=2.0)
                if status == 200 and index and all(m.get("state") not in (None, "LOADING") for m in index):
                    return index
            except (OSError, ValueError):
                pass
            if time.perf_counter() > deadline:
                raise ServerError(f"tritonserver still loading after {timeout:.0f} s: {self.problem()}")
            time.sleep(0.1)

    def models(self) -> List[Dict]:
        return self.request("/v2/repository/index", body=b"{}")[1] or []

    def stop(self, timeout: float = 30.0) -> Optional[int]:
        """SIGTERM (Triton unloads its models and their stub processes end), then SIGKILL to the
        whole process group if it hangs, so no stub outlives the server."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the group (stubs), or the hung server itself
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self._reader is not None:
            self._reader.join(timeout=5)
        return proc.returncode

    def __enter__(self) -> "Server":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

"""What every backend is: an Engine runs one graph; a Backend says whether it can run here
(``probe``) and opens a package's graphs on it (``open``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Tuple

import numpy as np


class Engine:
    """A graph on one backend. ``run`` takes and returns host (numpy) arrays; ``run_native``
    returns the output where the engine made it (a CUDA tensor on a GPU), so a pipeline can
    hand it to the next stage without a round trip through the host."""

    backend = "?"
    device = "cpu"
    variant = "fp32"  # the package file variant it runs (e.g. int8-cpu)
    copies = False  # whether to_device/to_host move data (else the engine copies inside run)
    stream = None   # the CUDA stream its outputs are made on (None: the library's current one)

    @property
    def gate(self) -> str:
        """The parity rule it is judged by (stylert.parity): its variant, or "tf32" where an
        fp32 file runs with TF32 math the backend cannot turn off."""
        return self.variant

    def run(self, feeds: Dict[str, np.ndarray]) -> np.ndarray:
        return self.to_host(self.run_native(feeds))

    def run_native(self, feeds: Dict[str, object]) -> object:
        raise NotImplementedError

    def to_device(self, array: np.ndarray) -> object:
        """A host array as this engine's input (the host->device copy on a GPU)."""
        return array

    def to_host(self, array: object) -> np.ndarray:
        """An output of ``run_native`` as a numpy array (the device->host copy on a GPU)."""
        return array

    def event(self):
        """A factory of CUDA timing events on this engine's stream, or None (host clock)."""
        return None

    def info(self) -> Dict[str, float]:
        """Figures `stylert bench` reports for this engine (TensorRT: size, setup, enqueue)."""
        return {}


@dataclass(frozen=True)
class Backend:
    """One entry of the registry (stylert.backends.REGISTRY, in ``auto`` order)."""

    name: str
    probe: Callable[[], str]  # '' when it can run here, else why not (silent, cached)
    # (package, graph names, precision, spin) -> {graph: Engine}; with ``graphs`` also a
    # keyword ``cuda_graphs`` (True/False; left out: STYLERT_CUDA_GRAPHS decides)
    open: Callable[..., Dict[str, Engine]]
    # the precision it really runs when asked for one (torch: the fp32 reference weights)
    runs: Callable[[str], str] = lambda precision: precision
    fastest: Tuple[str, ...] = ()  # precision "auto": the first of these the package has, else fp32
    version: Callable[[], str] = lambda: ""  # part of the self-check's verdict key
    graphs: bool = False  # whether it can capture CUDA graphs (its ``open`` takes ``cuda_graphs``)


@dataclass(frozen=True)
class Choice:
    """What a pipeline runs on and why; ``str`` is the one line users see."""

    backend: str
    precision: str
    device: str
    reason: str = ""  # why faster backends were skipped, or why the precision differs

    def __str__(self) -> str:
        precision = "" if self.precision == "fp32" else f", {self.precision}"
        return f"backend: {self.backend}{precision}" + (f" ({self.reason})" if self.reason else "")


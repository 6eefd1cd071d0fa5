"""The pipelines: Stylizer (AdaIN), Generator (StyleGAN), AutoEncoder, each on one device end
to end, on the engines a backend opened for a model package."""

from __future__ import annotations

import logging
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..backends import Choice, Engine, open_engines
from ..errors import PackageError, UsageError
from ..package import Package, default_package, load
from ..timing import Stages

log = logging.getLogger("stylert")


def check_finite(x: np.ndarray, what: str) -> None:
    """Refuses NaN or infinite values in an array given to a pipeline, which the graphs would
    carry through to a NaN result (an image of garbage, silently)."""
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise UsageError(f"{what} hold NaN or infinite values")


def open_pipeline(package, kind: str, who: str, backend: str, precision: str,
                  graphs: Optional[List[str]] = None, spin: bool = True, unverified: bool = False,
                  cuda_graphs: Optional[bool] = None) -> Tuple[Package, Dict[str, Engine], Choice]:
    """What every pipeline's constructor does: the package (the bundled one of ``kind`` when
    None), checked to be of ``kind``, its engines and the backend choice (logged).
    ``cuda_graphs``: see backends.open_engines (Pipeline.over puts a pipeline on them)."""
    if isinstance(package, (str, bytes)) and not package:  # (an unset variable): never the bundled one
        raise UsageError("package '' names no folder: give a package folder, or None for the bundled one")
    pkg = package if isinstance(package, Package) else load(default_package(kind) if package is None else package)
    if pkg.kind != kind:
        raise PackageError(f"{pkg.path} is a {pkg.kind} package; the {who} needs a {kind} package "
                           f"(stylert export {kind})")
    engines, choice = open_engines(pkg, backend, precision, graphs, spin, unverified, cuda_graphs)
    log.info("%s", choice)
    return pkg, engines, choice


class Pipeline:
    """The common part of the pipelines: ``package`` (a folder, a Package, or None for the
    bundled one of ``kind``), its ``engines`` on the chosen backend (the first available one
    that passes its self-check; ``unverified`` runs a named one that fails it), the ``choice``
    (what runs and why) and per-stage timers (``stages``, for `stylert bench`)."""

    kind = ""
    graphs: Optional[List[str]] = None  # the graphs it runs (None: all of the package's)
    spin = True                         # see backends.onnxrt.session
    stages_order: Tuple[str, ...] = ()  # the stages it times (``stages``), in call order: bench's columns

    def __init__(self, package=None, backend: str = "auto", precision: str = "fp32", unverified: bool = False):
        self._attach(*open_pipeline(package, self.kind, type(self).__name__, backend, precision, self.graphs,
                                    self.spin, unverified))

    @classmethod
    def over(cls, package: Package, engines: Dict[str, Engine], choice: Optional[Choice] = None):
        """The pipeline on engines already open: what the backends' self-check runs its
        whole-chain probe through (the family's ``chain``), before any pipeline is made."""
        self = cls.__new__(cls)
        self._attach(package, engines, choice)
        return self

    def _attach(self, package: Package, engines: Dict[str, Engine], choice: Optional[Choice]) -> None:
        self.package, self.engines, self.choice = package, engines, choice
        self.stages = Stages(next(iter(engines.values())).event())
        self.setup()

    def setup(self) -> None:
        """What a pipeline reads from its package, once its engines are open."""

    @property
    def backend(self) -> str:
        """The backend's name (``choice`` says more)."""
        return self.choice.backend

"""``stylert bench``: latency of the pipelines for every combination asked for, in one run.

harness.py times the combinations, kernel.py the fused AdaIN kernel alone, probes.py
measures memory and the machine, report.py writes the table, the plot and --compare.
"""

from .harness import DEFAULT_SIZES, GRAPHS, LIVE_SOURCE, MODELS, run
from .kernel import CHANNELS, kernel_candidates, run_kernel
from .probes import gpu_warnings, machine_warnings
from .report import compare, load_report, markdown, plot

__all__ = ["CHANNELS", "DEFAULT_SIZES", "GRAPHS", "LIVE_SOURCE", "MODELS", "compare", "gpu_warnings",
           "kernel_candidates", "load_report", "machine_warnings", "markdown", "plot", "run", "run_kernel"]

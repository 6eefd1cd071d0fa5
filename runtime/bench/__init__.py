"""``stylert bench``: latency of the pipelines for every combination asked for, in one run.

harness.py times callables in turns (``measure``: warm-up, timed iterations, medians,
percentiles, per-pair ratios) and the pipelines' combinations (``run``); kernel.py the
fused AdaIN kernel alone; probes.py measures memory and the machine (nvidia-smi included);
report.py writes the table, the plot and --compare. benchmarks/ scripts use these names.
"""

from .harness import DEFAULT_SIZES, GRAPHS, LIVE_SOURCE, MODELS, Figures, figures, measure, run
from .kernel import CHANNELS, kernel_candidates, run_kernel
from .probes import gpu_warnings, machine_warnings
from .report import compare, load_report, markdown, plot, to_json

__all__ = ["CHANNELS", "DEFAULT_SIZES", "GRAPHS", "LIVE_SOURCE", "MODELS", "Figures", "compare", "figures",
           "gpu_warnings", "kernel_candidates", "load_report", "machine_warnings", "markdown", "measure", "plot",
           "run", "run_kernel", "to_json"]

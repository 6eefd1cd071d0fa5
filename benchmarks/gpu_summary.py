"""One line per GPU path from the files benchmarks/gpu_check.sh left in its folder: the
CUDA kernel's bandwidth next to a device copy, each backend's checks (graph by graph and the whole chain, from `stylert verify --json`), the
backends that could not run and why, and the bench's latencies side by side.

    python benchmarks/gpu_summary.py OUT_FOLDER
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def verify_lines(folder: Path):
    checks, skipped = defaultdict(list), {}
    for path in sorted(folder.glob("verify-*.json")):
        report = json.loads(path.read_text())
        for c in report["checks"]:
            checks[c["backend"]].append((report["kind"], c))
        skipped.update(report["skipped"])
    for backend, rows in checks.items():
        bad = [(k, c) for k, c in rows if not c["passed"]]
        chains = [c for _, c in rows if c["graph"] == "chain"]
        worst = max(chains, key=lambda c: (c["max_abs"] or 0) / (c["range"] or 1), default=None)
        figure = (f"; worst whole chain {worst['precision']} max abs {worst['max_abs']:.3g} of range "
                  f"{worst['range']:.3g}" if worst and worst["max_abs"] is not None else "")
        state = "passed" if not bad else "FAILED: " + ", ".join(f"{k} {c['graph']} {c['precision']}" for k, c in bad)
        yield f"backend {backend}: {len(rows) - len(bad)} of {len(rows)} checks {state}{figure}"
    for backend, why in skipped.items():
        yield f"backend {backend}: not run here ({why})"


def bench_lines(folder: Path):
    path = folder / "bench-adain-gpu.json"
    if not path.is_file():
        return
    rows = json.loads(path.read_text())["rows"]
    by_size = defaultdict(dict)
    for r in rows:
        by_size[r.get("size")][f"{r['backend']} {r.get('precision', '')}".strip()] = r["median_ms"]
    for size, times in sorted(by_size.items(), key=lambda kv: str(kv[0])):
        yield f"bench adain {size}: " + ", ".join(f"{b} {ms:.1f} ms" for b, ms in times.items())


def kernel_lines(folder: Path):
    for path in sorted(folder.glob("gpu_kernel-*.json")):
        rows = [r for r in json.loads(path.read_text())["results"]
                if r["candidate"] == "stylert CUDA (auto)" and r["cache"] == "HBM"]
        for dtype in sorted({r["dtype"] for r in rows}):
            yield f"CUDA AdaIN kernel, {dtype} from HBM: " + ", ".join(
                f"{r['shape']} {r['gb_per_s']:.0f} GB/s ({r['vs_copy']:.2f}x a copy, {r['vs_pytorch']:.1f}x PyTorch)"
                for r in rows if r["dtype"] == dtype)


def main() -> int:
    folder = Path(sys.argv[1])
    for line in [*kernel_lines(folder), *verify_lines(folder), *bench_lines(folder)]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The engine cache: one engine per (graph hash, profile, precision, TensorRT version, GPU
compute capability), written atomically under a file lock with a sidecar that records the
key and the engine's sha256; an entry whose sidecar does not match is rebuilt, never loaded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

from ...folders import atomic_write, cache_root, locked

Shape = Tuple[int, ...]
Profile = Dict[str, Tuple[Shape, Shape, Shape]]  # input -> (min, opt, max)


def cache_dir() -> Path:
    return cache_root() / "engines"


def cache_key(onnx_sha256: str, prof: Profile, precision: str, trt_version: str,
              compute_capability: str) -> Dict[str, object]:
    """Everything an engine depends on; its sha256 names the cache entry."""
    return {"onnx_sha256": onnx_sha256, "profile": {k: [list(s) for s in v] for k, v in sorted(prof.items())},
            "precision": precision, "tensorrt": trt_version, "compute_capability": compute_capability}


def entry_paths(key: Dict[str, object], graph: str, root: Optional[Path] = None) -> Tuple[Path, Path]:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    base = (root or cache_dir()) / f"{graph}-{key['precision']}-{digest}"
    return base.with_suffix(".engine"), base.with_suffix(".json")


def read_entry(key: Dict[str, object], engine: Path, sidecar: Path) -> Optional[bytes]:
    """The cached engine bytes, or None when absent, stale or corrupt (then it is rebuilt)."""
    try:
        meta = json.loads(sidecar.read_text())
        data = engine.read_bytes()
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(meta, dict) or meta.get("key") != key or meta.get("sha256") != hashlib.sha256(data).hexdigest():
        return None
    return data


def cached_engine(key: Dict[str, object], graph: str, build: Callable[[], bytes],
                  root: Optional[Path] = None) -> Tuple[Path, bool]:
    """(engine path, whether it was built now): the cached entry for ``key``, or ``build()``'s
    bytes written there atomically, under the entry's lock."""
    engine, sidecar = entry_paths(key, graph, root)
    with locked(engine.with_suffix(".lock")):
        if read_entry(key, engine, sidecar) is not None:
            return engine, False
        data = build()
        atomic_write(engine, data)
        atomic_write(sidecar, json.dumps({"key": key, "sha256": hashlib.sha256(data).hexdigest()},
                                          indent=1).encode())
        return engine, True



"""The training loop every recipe shares: fixed seed, progress bar, periodic atomic
checkpoints, resume, and a checkpoint on Ctrl-C so no progress is lost.

A recipe gives a ``step_fn(step, gen) -> {loss name: float}`` that draws all of its
randomness from ``gen`` (a torch.Generator saved in the checkpoint), so a resumed run
continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import torch
from tqdm import tqdm

from stylert.errors import UsageError

from ..checkpoints import CheckpointError, load_file, save_atomic, stylert_checkpoint

log = logging.getLogger(__name__)

StepFn = Callable[[int, torch.Generator], Dict[str, float]]


def publish(out: Path, kind: str, model: torch.nn.Module, picture, card: str, **extra) -> None:
    """What every recipe leaves in ``out``: KIND.pt (the model, loadable with
    stylert.export.models.load), KIND.png (its picture, BGR uint8) and KIND.md (its card)."""
    import cv2

    out = Path(out)
    save_atomic(stylert_checkpoint(kind, model.config, model, **extra), out / f"{kind}.pt")
    cv2.imwrite(str(out / f"{kind}.png"), picture, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    (out / f"{kind}.md").write_text(card)


def state_file(out: Path, kind: str) -> Path:
    """Where a run of ``kind`` in folder ``out`` keeps its training state (for --resume)."""
    return Path(out) / f"{kind}.train.pt"


def trained_seconds(out: Path, kind: str) -> float:
    """Wall time the run in ``out`` has trained, over all its resumes (0 before any state)."""
    path = state_file(out, kind)
    return float(load_file(path).get("seconds", 0.0)) if path.exists() else 0.0


def _settings(config: Dict | None) -> Dict | None:
    """The settings a resume must share: all but the step count, so --resume --steps N
    extends a finished or interrupted run."""
    return None if config is None else {k: v for k, v in config.items() if k != "steps"}


def _check_state(state, path: Path, parts: Dict[str, Any]) -> None:
    """A training state has the fields a resume reads, of their types; else one error line."""
    ok = (isinstance(state, dict) and isinstance(state.get("step"), int) and state["step"] >= 0
          and isinstance(state.get("history"), list) and isinstance(state.get("parts"), dict)
          and all(isinstance(state["parts"].get(n), dict) for n in parts)
          and isinstance(state.get("gen"), torch.Tensor))
    if not ok:
        raise CheckpointError(f"{path} is not a training state of this recipe (a field is missing or of the "
                              f"wrong type): use another --out folder, or remove it to start over")


def train(
    *,
    kind: str,
    steps: int,
    step_fn: StepFn,
    parts: Dict[str, Any],
    gen: torch.Generator,
    out: Path,
    every: int = 500,
    resume: bool = False,
    config: Dict | None = None,
) -> List[Dict[str, float]]:
    """Runs ``step_fn`` for steps [start, steps); returns the loss history (one entry per
    step, including steps done before a resume). ``parts`` are what the checkpoint saves
    and a resume restores: modules, optimizers, schedulers (anything with state_dict).
    The training state lives in ``out/KIND.train.pt``; a resume may ask for more steps."""
    state_path = state_file(out, kind)
    if steps < 1 or every < 1:
        raise UsageError("steps and checkpoint interval must be >= 1")
    start, history, before = 0, [], 0.0
    if resume and state_path.exists():
        state = load_file(state_path)
        _check_state(state, state_path, parts)
        if state.get("kind") != kind or _settings(state.get("config")) != _settings(config):
            raise CheckpointError(
                f"{state_path} is from a different run (kind or settings differ): "
                f"use another --out folder or the same settings (only --steps may change)"
            )
        if int(state["step"]) > steps:
            raise UsageError(f"{state_path} is already at step {state['step']}: ask for --steps >= that")
        for name, part in parts.items():
            try:
                part.load_state_dict(state["parts"][name])
            except (RuntimeError, ValueError, KeyError, TypeError) as e:  # shapes or fields that do not fit
                raise CheckpointError(f"{state_path}: its {name} does not fit this run "
                                      f"({' '.join(str(e).split())[:120]}): use another --out folder") from None
        gen.set_state(state["gen"])
        start, history, before = int(state["step"]), list(state["history"]), float(state.get("seconds", 0.0))
        log.info("resuming %s at step %d", kind, start)

    t0 = time.perf_counter()

    def save(step: int) -> None:
        save_atomic(
            {
                "kind": kind,
                "config": config,
                "step": step,
                "parts": {n: p.state_dict() for n, p in parts.items()},
                "gen": gen.get_state(),
                "history": history,
                "seconds": before + time.perf_counter() - t0,  # wall time over all resumes
            },
            state_path,
        )

    step = start
    bar = tqdm(range(start, steps), initial=start, total=steps, desc=f"train {kind}", unit="step")
    try:
        for step in bar:
            losses = step_fn(step, gen)
            history.append(losses)
            if step % 50 == 0:
                bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items()})
            if (step + 1) % every == 0:
                save(step + 1)
    except KeyboardInterrupt:
        save(len(history))
        log.warning("interrupted: progress saved to %s (resume with --resume)", state_path)
        raise
    finally:
        bar.close()
    save(steps)
    return history

"""``stylert train MODEL``: the project's training recipes (need torch). The recipes are the model
families' (each record's ``train``: MODEL -> its module, stylert.families); each recipe module
declares its own options, defaults and summary line (stylert.export.train), read when
`stylert train MODEL` runs, so the command line of the runtime alone never imports torch."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Dict

from .. import families
from ..argtypes import path, seed
from ..limits import count
from . import needs_torch, out_folder


def recipes() -> Dict[str, str]:
    """`stylert train NAME` -> its recipe module, over all families."""
    return {name: module for f in families.FAMILIES.values() for name, module in f.train.items()}


def add_parser(sub) -> None:
    names = recipes()
    p = sub.add_parser("train", help="train a model with the project's recipe (needs torch)",
                       epilog="`stylert train MODEL --help`: that recipe's options (needs torch)")
    p.add_argument("model", choices=names, metavar="MODEL", help=", ".join(names))
    p.add_argument("options", nargs=argparse.REMAINDER, help="the recipe's options")
    p.set_defaults(func=train)


def recipe_parser(name: str, recipe) -> argparse.ArgumentParser:
    """`stylert train NAME`'s options: the common ones and those the recipe declares."""
    t = argparse.ArgumentParser(prog=f"stylert train {name}", description=recipe.HELP)
    t.add_argument("--out", default=f"runs/{name}", type=path, help=f"output folder (default: runs/{name})")
    t.add_argument("--steps", type=count("steps"), default=recipe.STEPS)
    t.add_argument("--seed", type=seed, default=0)
    t.add_argument("--every", type=count("steps"), default=recipe.EVERY, help="checkpoint every N steps")
    state = getattr(recipe, "STATE", name)
    t.add_argument("--resume", action="store_true", help=f"continue from OUT/{state}.train.pt")
    for flag, kwargs in recipe.OPTIONS:
        t.add_argument(flag, **kwargs)
    return t


def train(args: argparse.Namespace) -> int:
    needs_torch()
    recipe = importlib.import_module(recipes()[args.model])
    try:
        options = vars(recipe_parser(args.model, recipe).parse_args(args.options))
    except SystemExit as e:  # --help (0) or a usage error (2), already printed by argparse
        return int(e.code or 0)
    options["out"] = out_folder(options["out"])  # a file, or a place that cannot be written: one line first
    state = options["out"] / f"{getattr(recipe, 'STATE', args.model)}.train.pt"
    if options["resume"] and not state.exists():  # (starting fresh is what `make` relies on: said, not refused)
        print(f"note: no training state {state} to resume: training starts from step 0", flush=True)
    metrics = recipe.run(command="stylert " + " ".join(args.argv), **options)
    name = getattr(recipe, "PUBLISHES", args.model)
    print(f"{recipe.summary(metrics)}; wrote {options['out']}/{name}.pt, .md, .png")
    return 0

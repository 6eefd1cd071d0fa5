"""Training recipes, sharing the loop in loop.py. Each model family's record (stylert.families)
names its recipes (``train``: `stylert train NAME` -> module), and each recipe module declares
what `stylert train NAME` takes and says, read when that command runs:

- ``run(out, *, steps, seed, every, resume, command, **options) -> metrics`` trains and writes
  NAME.pt, .md, .png into ``out`` (loop.publish);
- ``HELP`` (one line), ``STEPS`` and ``EVERY`` (the defaults of --steps and --every) and
  ``OPTIONS``: (flag, argparse keywords) beyond the common --out --steps --seed --every --resume;
- ``summary(metrics)``: the line printed when done;
- where they are not NAME: ``PUBLISHES`` (the checkpoint written) and ``STATE`` (its --resume file).
"""

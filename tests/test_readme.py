"""The README's Python examples run as written (```python blocks; ```py blocks are
illustrations that need the user's own files)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "README has no Python example"
    for code in blocks:
        exec(compile(code, str(README), "exec"), {})

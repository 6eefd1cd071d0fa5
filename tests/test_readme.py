"""The documentation as a newcomer meets it: the Python examples of README.md, docs/*.md and
benchmarks/README.md run as written (```python blocks; ```py blocks are illustrations that
need the user's own files), every relative link and picture points at a file that exists,
and README.md stays a five-minute read."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS, ROOT / "benchmarks" / "README.md"]
README_MAX_LINES = 200

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def python_blocks(page: Path):
    return re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M)


def relative_links(page: Path):
    """(path, fragment) of each link and picture outside the page's code (blocks and inline
    spans), web addresses left out; an in-page anchor has the page itself as its path."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue
        path, _, fragment = target.partition("#")
        yield path or page.name, fragment


def anchors(page: Path):
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as
    hyphens, a repeated one numbered."""
    seen, out = {}, set()
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*$", FENCE.sub("", page.read_text(encoding="utf-8")), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        out.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return out


def test_readme_has_a_python_example():
    assert python_blocks(README), "README has no Python example"


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_python_examples_run(page):
    for code in python_blocks(page):
        exec(compile(code, str(page), "exec"), {})


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_relative_links_resolve(page):
    missing, bad_anchors = [], []
    for path, fragment in relative_links(page):
        target = page.parent / path
        if not target.exists():
            missing.append(path)
        elif fragment and target.suffix == ".md" and fragment not in anchors(target):
            bad_anchors.append(f"{path}#{fragment}")
    assert not missing, f"{name(page)} links to files that do not exist: {missing}"
    assert not bad_anchors, f"{name(page)} links to headings that do not exist: {bad_anchors}"


def test_readme_links_every_docs_page():
    linked = {(README.parent / path).resolve() for path, _ in relative_links(README)}
    unlinked = [name(p) for p in DOCS if p.resolve() not in linked]
    assert not unlinked, f"README.md does not link to {unlinked}"


def test_readme_is_short():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines, more than {README_MAX_LINES}"

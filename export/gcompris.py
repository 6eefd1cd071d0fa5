"""Paintings and photographs for the quality benchmark from Debian's gcompris-qt-data: never
trained on (data_fetch marks them all held out, in roles no recipe reads).

- paintings: the 22 boards of GCompris's "paintings" puzzle (Renoir, Hokusai, Hiroshige,
  Van Gogh, Kandinsky, Bruegel, ...: the WebMuseum's reproductions, GPL-3+ per the activity's
  README) are stored as tiles with their centres on the board; reassembled here into one
  picture each.
- photographs: the pictures of "explore world animals" and "explore monuments" (Wikimedia
  Commons photographs; each one's licence and author are in its activity's README).

Both come out of the package's Qt resource bundles (qt_resources) as PNG files under
``TREE/stylert-extracted/ROLE/``; ``extract`` returns them with their licences.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Dict, List, Tuple

from . import qt_resources

RCC = "usr/share/gcompris-qt/rcc"
PAINTINGS = "paintings.rcc"
PHOTOS = ("explore_world_animals.rcc", "explore_monuments.rcc")
OUT = "stylert-extracted"


def readme_licences(text: str) -> Dict[str, Tuple[str, str]]:
    """{file name: (licence, copyright)} of a GCompris resource README (stanzas of Copyright:,
    License:, Source: lines, then ``Files:`` and one name per line)."""
    found: Dict[str, Tuple[str, str]] = {}
    for stanza in re.split(r"\n\s*\n", text):
        holder = "; ".join(re.findall(r"^Copyright:\s*(.+)$", stanza, re.M))
        lic = re.search(r"^License:\s*(.+)$", stanza, re.M)
        files = re.search(r"^Files:\s*\n((?:[^\n:]+\n?)+)", stanza, re.M)
        if lic and files:
            for line in files.group(1).split():
                found[line.strip().rsplit("/", 1)[-1]] = (lic.group(1).strip(), holder)
    return found


def _decode(blob: bytes):
    import cv2
    import numpy as np

    return cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)


def assemble(board: str, tiles: Dict[str, bytes]):
    """(BGR picture, title) of one paintings board: its tiles pasted at their centres
    (fractions of the board's width and height), cropped to what they cover."""
    import numpy as np

    w = int(re.search(r'"width"\s*:\s*(\d+)', board).group(1))
    h = int(re.search(r'"height"\s*:\s*(\d+)', board).group(1))
    pad = max(w, h)  # tiles may reach past the board's edge
    canvas = np.zeros((h + 2 * pad, w + 2 * pad, 4), np.uint8)
    for name, x, y in re.findall(r'"pixmapfile"\s*:\s*"image/([^"]+)",\s*"x"\s*:\s*"([\d.]+)",\s*"y"\s*:\s*"([\d.]+)"',
                                 board):
        tile = _decode(tiles[name])
        if tile.shape[2] == 3:
            tile = np.dstack([tile, np.full(tile.shape[:2], 255, np.uint8)])
        th, tw = tile.shape[:2]
        x0, y0 = round(float(x) * w) + pad - tw // 2, round(float(y) * h) + pad - th // 2
        region = canvas[y0:y0 + th, x0:x0 + tw]
        a = tile[..., 3:] / 255.0
        region[..., :3] = (tile[..., :3] * a + region[..., :3] * (1 - a)).astype(np.uint8)
        region[..., 3] = np.maximum(region[..., 3], tile[..., 3])
    ys, xs = np.nonzero(canvas[..., 3])
    title = re.search(r'qsTr\("([^"]+)"\)', board).group(1)
    return canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1, :3], title


def _slug(title: str) -> str:
    """'Albrecht Dürer, Lion - 1494' -> 'albrecht-durer-lion'."""
    ascii_ = unicodedata.normalize("NFKD", title.split(" - ")[0]).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")


def extract(tree: Path) -> List[Tuple[Path, str, str, str]]:
    """[(PNG path, role, licence, copyright)] of the package extracted at ``tree``."""
    import cv2

    out_root = tree / OUT
    found = []
    res = qt_resources.read(tree / RCC / PAINTINGS)
    tiles = {k.rsplit("/", 1)[-1]: v for k, v in res.items() if k.endswith(".webp")}
    readme = next((v for k, v in res.items() if k.endswith("image/README")), b"").decode()
    holder = "; ".join(re.findall(r"^\s*Copyright\s+(.+)$", readme, re.M)) + " (WebMuseum)"
    for key in sorted(k for k in res if re.search(r"/board/board\d+_0\.qml$", k)):
        picture, title = assemble(res[key].decode(), tiles)
        path = out_root / "painting" / f"{_slug(title)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), picture)
        found.append((path, "painting", "GPL-3+", f"{title}; {holder}"))
    for rcc in PHOTOS:
        res = qt_resources.read(tree / RCC / rcc)
        licences: Dict[str, Tuple[str, str]] = {}
        for k, v in res.items():
            if k.endswith("/README"):
                licences.update(readme_licences(v.decode()))
        for key in sorted(k for k in res if k.endswith((".webp", ".jpg", ".png"))):
            name = key.rsplit("/", 1)[-1]
            if name not in licences:  # drawings and icons have no per-photograph entry
                continue
            img = _decode(res[key])
            if img is None or img.ndim != 3:
                continue
            path = out_root / "photo" / f"{Path(rcc).stem}-{Path(name).stem}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), img[..., :3])
            found.append((path, "photo", *licences[name]))
    return found

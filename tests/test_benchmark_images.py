"""The quality benchmark's paintings and photographs (stylert.export.gcompris): read out of Qt
resource bundles written here in rcc's layout (Qt's src/tools/rcc/rcc.cpp, format version 2),
tiles reassembled, licences read, every image held out."""

import struct
import zlib

import cv2
import numpy as np
import pytest

from stylert.errors import UsageError
from stylert.export import data_fetch, gcompris, qt_resources


def write_rcc(path, files, compress=()):
    """A version-2 .rcc holding ``files`` ({'a/b/c.png': bytes}), as Qt's rcc lays it out:
    tree entries of 22 bytes, children of a directory contiguous and sorted."""
    tree: dict = {}
    for key, blob in files.items():
        node = tree
        *dirs, leaf = key.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = blob
    names, data, entries = bytearray(), bytearray(), []

    def name_offset(n):
        off = len(names)
        names.extend(struct.pack(">HI", len(n), 0) + n.encode("utf-16-be"))
        return off

    # breadth first: each directory's children get consecutive indices
    entries.append(None)
    queue = [(0, "", tree)]
    while queue:
        index, n, node = queue.pop(0)
        first = len(entries)
        kids = sorted(node.items())
        entries.extend([None] * len(kids))
        entries[index] = struct.pack(">IHII", name_offset(n) if index else 0, 2, len(kids), first) + bytes(8)
        for i, (kn, kv) in enumerate(kids):
            if isinstance(kv, dict):
                queue.append((first + i, kn, kv))
            else:
                zipped = kn in compress
                blob = struct.pack(">I", len(kv)) + zlib.compress(kv) if zipped else kv
                entries[first + i] = (struct.pack(">IHHHI", name_offset(kn), 1 if zipped else 0, 0, 0, len(data))
                                      + bytes(8))
                data.extend(struct.pack(">I", len(blob)) + blob)
    head = 20
    tree_bytes = b"".join(entries)
    body = bytes(data) + bytes(names) + tree_bytes
    path.write_bytes(b"qres" + struct.pack(">IIII", 2, head + len(data) + len(names), head, head + len(data)) + body)


def png(img):
    return cv2.imencode(".png", img)[1].tobytes()


def test_rcc_files_are_read_with_their_paths_plain_and_zlib(tmp_path):
    files = {"a/b/one.txt": b"hello", "a/two.bin": bytes(range(200)), "top.txt": b"x" * 1000}
    write_rcc(tmp_path / "r.rcc", files, compress={"top.txt"})
    assert qt_resources.read(tmp_path / "r.rcc") == files
    (tmp_path / "bad.rcc").write_bytes(b"qres" + bytes(8))
    with pytest.raises(UsageError, match="not a Qt resource file"):
        qt_resources.read(tmp_path / "bad.rcc")


BOARD = '''QtObject {
   property string instruction: qsTr("Albrecht Dürer, Lion - 1494")
   property var levels : [
      { "pixmapfile" : "image/bg.svg", "type" : "SHAPE_BACKGROUND_IMAGE", "width": 200, "height": 100 },
      { "pixmapfile" : "image/lion_b.webp", "x" : "0.75", "y" : "0.5" },
      { "pixmapfile" : "image/lion_a.webp", "x" : "0.25", "y" : "0.5" }
   ]
}'''
README = """Copyright:
  Copyright 1994-2006 Nicolas Pioch
License: GPLv3 or later
Files:
  lion_a.webp
"""
PHOTO_README = """Copyright: Kurt Kaiser
License: CC0-1.0
Source: https://commons.wikimedia.org/wiki/File:American_Bison_9.jpg
Files:
animals/bison.webp

Copyright: Somebody
License: CC-BY-SA 4.0
Files:
drawing.svg
"""


def test_paintings_are_reassembled_and_photos_keep_their_licences(tmp_path):
    left, right = np.zeros((100, 100, 3), np.uint8), np.zeros((100, 100, 3), np.uint8)
    left[:] = (255, 0, 0)
    right[:] = (0, 0, 255)
    rcc = tmp_path / gcompris.RCC
    rcc.mkdir(parents=True)
    act = "gcompris/src/activities/paintings/resource/"
    write_rcc(rcc / gcompris.PAINTINGS, {act + "board/board1_0.qml": BOARD.encode(), act + "image/README": README.encode(),
                                         act + "image/lion_a.webp": png(left), act + "image/lion_b.webp": png(right)})
    bison = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    photos = {"gcompris/src/activities/explore_world_animals/resource/animals/bison.webp": png(bison),
              "gcompris/src/activities/explore_world_animals/resource/animals/icon.webp": png(bison[:50, :50]),
              "gcompris/src/activities/explore_world_animals/resource/animals/README": PHOTO_README.encode()}
    write_rcc(rcc / gcompris.PHOTOS[0], photos, compress=set(photos))
    write_rcc(rcc / gcompris.PHOTOS[1], {"x/README": b""})
    found = gcompris.extract(tmp_path)
    assert [(p.name, role, lic) for p, role, lic, _ in found] == [
        ("albrecht-durer-lion.png", "painting", "GPL-3+"), ("explore_world_animals-bison.png", "photo", "CC0-1.0")]
    lion = cv2.imread(str(found[0][0]))
    assert lion.shape == (100, 200, 3)
    assert (lion[:, :100] == (255, 0, 0)).all() and (lion[:, 100:] == (0, 0, 255)).all()
    assert "Albrecht Dürer, Lion - 1494" in found[0][3] and "Kurt Kaiser" == found[1][3]
    assert np.array_equal(cv2.imread(str(found[1][0])), bison)
    images = data_fetch.extracted_images(tmp_path, "gcompris-qt-data", "3.1-2")
    assert [i.role for i in images] == ["photo"] and images[0].held_out  # the 100-px painting is under MIN_SIDE


def test_the_paintings_split_is_fixed_and_disjoint():
    from stylert.export.quality import painting_split

    paths = [f"/p/{c}.png" for c in "qwertyuiopasdfghjklzxc"]  # 22, as GCompris has
    val, test = painting_split(paths)
    assert (len(val), len(test)) == (8, 14) and not set(val) & set(test) and set(val) | set(test) == set(paths)
    assert painting_split(list(reversed(paths))) == (val, test)  # by name, not by the order found

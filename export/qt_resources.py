"""Files inside a Qt resource bundle (``.rcc``, the binary format of Qt's rcc tool), read
without Qt: data_fetch takes GCompris's paintings and photographs out of them.

The format (Qt's src/tools/rcc/rcc.cpp, versions 1-3): a header ``qres``, version, and the
offsets of the tree, the data and the names; tree entries of 14 bytes (22 from version 2,
which adds a modification time) hold a name offset, flags (1: zlib, 2: directory, 4: zstd)
and either a child count and first child index or a data offset; a name is its UTF-16
length, a hash and UTF-16BE text; data is its length and the bytes (zlib ones start with the
uncompressed length). All integers big-endian.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Dict

from stylert.errors import UsageError

ZLIB, DIRECTORY, ZSTD = 1, 2, 4


def read(path: Path) -> Dict[str, bytes]:
    """{path inside the bundle: file bytes} of the .rcc file at ``path``."""
    b = Path(path).read_bytes()
    try:
        if b[:4] != b"qres":
            raise ValueError("no 'qres' header")
        version, tree, data, names = struct.unpack(">IIII", b[4:20])
        if not 1 <= version <= 3:
            raise ValueError(f"format version {version}")
        entry = 14 if version == 1 else 22
        out: Dict[str, bytes] = {}

        def name(offset: int) -> str:
            n = struct.unpack(">H", b[names + offset:names + offset + 2])[0]
            return b[names + offset + 6:names + offset + 6 + 2 * n].decode("utf-16-be")

        def walk(index: int, prefix: str, depth: int) -> None:
            if depth > 64:
                raise ValueError("directory tree too deep")
            e = tree + index * entry
            name_offset, flags = struct.unpack(">IH", b[e:e + 6])
            here = prefix + name(name_offset) if index else ""
            if flags & DIRECTORY:
                count, first = struct.unpack(">II", b[e + 6:e + 14])
                for child in range(first, first + count):
                    walk(child, here + "/" if here else "", depth + 1)
                return
            offset = data + struct.unpack(">I", b[e + 10:e + 14])[0]
            size = struct.unpack(">I", b[offset:offset + 4])[0]
            blob = b[offset + 4:offset + 4 + size]
            if flags & ZSTD:
                raise ValueError(f"{here} is zstd-compressed")
            out[here] = zlib.decompress(blob[4:]) if flags & ZLIB else blob

        walk(0, "", 0)
        return out
    except (ValueError, struct.error, zlib.error, UnicodeDecodeError, RecursionError) as e:
        raise UsageError(f"{path} is not a Qt resource file stylert can read ({e})") from None

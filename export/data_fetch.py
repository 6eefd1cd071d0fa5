"""Training images from Debian packages: wallpapers (photographs and artwork) and game
textures, fetched with ``apt-get download`` + ``dpkg -x`` (nothing is installed) into a
cache folder, listed with their package and licence. Never committed: model cards list
what was used (``index.json`` beside the images holds the list).

    python -m stylert.export.data_fetch            # fetch the default packages, print a summary
    python -m stylert.export.data_fetch --list     # only list what is already cached

The cache is ``$STYLERT_DATA`` or stylert's cache folder (see vgg16_hed.cache_root) +
``data``: one folder per package (its extracted tree), ``debs/`` (the downloaded .deb
files) and ``index.json``. A package already extracted at the archive's version is not
fetched again. Each image gets a fixed held-out flag (a hash of its package and path: about
1 in 10), so quality checks can use pictures no model trained on.

Licences come from the package's ``usr/share/doc/PKG/copyright``: in Debian's
machine-readable format each image gets the licence of the last ``Files:`` stanza whose
pattern matches its name (the patterns name source paths, so a match on the file name or a
path suffix counts), else the ``Files: *`` stanza's; other formats give the package's
licence names found in the file.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from stylert.errors import UsageError

from . import gcompris

log = logging.getLogger(__name__)

# package -> role: "picture" (wallpapers: photographs and artwork, content or style),
# "texture" (game textures: styles) or "benchmark" (see EXTRACTED). lomiri-wallpapers is a
# metapackage: its images are in the two versioned packages.
PACKAGES: Dict[str, str] = {
    "gnome-backgrounds": "picture",
    "plasma-workspace-wallpapers": "picture",
    "mate-backgrounds": "picture",
    "sway-backgrounds": "picture",
    "lomiri-wallpapers": "picture",
    "lomiri-wallpapers-16.04": "picture",
    "lomiri-wallpapers-20.04": "picture",
    "ukui-wallpapers": "picture",
    "colobot-common-textures": "texture",
    "gcompris-qt-data": "benchmark",
}
# Packages whose images are inside other files: a function of the extracted tree giving
# [(image path, role, licence, copyright)]. Their roles ("painting", "photo") are for the
# quality benchmark only: every image is held out and no recipe reads those roles.
EXTRACTED = {"gcompris-qt-data": gcompris.extract}
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp"}
MIN_SIDE = 128  # smaller files are icons, thumbnails, previews
HELD_OUT_ONE_IN = 10


@dataclass
class Image:
    path: str          # absolute path of the extracted file
    package: str
    version: str
    role: str          # "picture" or "texture"
    licence: str       # DEP-5 short name(s) for this file, e.g. "CC-BY-SA-3.0"
    copyright: str     # its Copyright: line(s) in the package's copyright file ("" if free-form)
    width: int
    height: int
    bytes: int
    held_out: bool     # fixed by a hash of package + path: never train on these


def data_root() -> Path:
    from .vgg16_hed import cache_root

    return Path(os.environ.get("STYLERT_DATA") or cache_root() / "data")


def _run(cmd: Sequence[str], cwd: Optional[Path] = None) -> str:
    try:
        r = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise UsageError(f"{cmd[0]} is not here: fetching Debian packages needs apt-get and dpkg") from None
    if r.returncode:
        raise UsageError(f"`{' '.join(cmd)}` failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    return r.stdout


def package_info(name: str) -> Optional[Dict[str, str]]:
    """The archive's Version/Size/... of ``name`` (None if apt does not know it)."""
    r = subprocess.run(["apt-cache", "show", "--no-all-versions", name], capture_output=True, text=True)
    if r.returncode or not r.stdout.strip():
        return None
    info = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^([A-Za-z-]+): (.*)$", line)
        if m:
            info.setdefault(m.group(1), m.group(2))
    return info


def fetch_package(name: str, root: Path, version: str) -> Path:
    """``root/name`` holding the package's extracted tree (fetched unless already there)."""
    dest = root / name
    marker = dest / ".stylert-version"
    if marker.is_file() and marker.read_text().strip() == version:
        return dest
    debs = root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    for old in debs.glob(f"{name}_*.deb"):
        old.unlink()
    _run(["apt-get", "download", "-q", name], cwd=debs)
    deb = sorted(debs.glob(f"{name}_*.deb"))
    if not deb:
        raise UsageError(f"apt-get download {name} left no .deb in {debs}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=root))
    try:
        _run(["dpkg", "-x", str(deb[-1]), str(tmp)])
        (tmp / ".stylert-version").write_text(version + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


# -- licences ----------------------------------------------------------------------------
def parse_copyright(text: str) -> Tuple[List[Tuple[List[str], str, str]], List[str]]:
    """(DEP-5 ``Files:`` stanzas as (patterns, licence, copyright) in file order, all
    licence names)."""
    stanzas, names = [], []
    for para in re.split(r"\n\s*\n", text):
        fields: Dict[str, str] = {}
        key = None
        for line in para.splitlines():
            m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
            if m:
                key = m.group(1).lower()
                fields[key] = m.group(2)
            elif key in ("files", "copyright") and line.startswith((" ", "\t")):
                fields[key] += ("; " if key == "copyright" else " ") + line.strip()
        lic = fields.get("license", "").strip()
        if lic:
            names.append(lic)
        if "files" in fields and lic:
            stanzas.append((fields["files"].split(), lic, fields.get("copyright", "").strip("; ")))
    return stanzas, names


def _matches(relpath: str, pattern: str) -> bool:
    """A DEP-5 pattern (a source path) against an installed path: ``*``, a path suffix, or
    the pattern's file name part (when it names files, not a whole folder)."""
    if pattern == "*" or fnmatch.fnmatch(relpath, "*" + pattern.lstrip("./")):
        return True
    last = pattern.rsplit("/", 1)[-1]
    return last not in ("", "*") and fnmatch.fnmatch(relpath.rsplit("/", 1)[-1], last)


def licence_of(relpath: str, stanzas: List[Tuple[List[str], str, str]], fallback: str) -> Tuple[str, str]:
    """(licence, copyright) of an installed file."""
    found = None
    for patterns, lic, holder in stanzas:  # DEP-5: the last matching stanza wins
        if any(_matches(relpath, pat) for pat in patterns):
            found = (lic, holder)
    return found or (fallback, "")


# Free-form copyright files (not DEP-5): the licences they name, as DEP-5 short names.
_FREEFORM = [
    (r"GNU (?:Lesser |Library )?General Public License.{0,300}?version (\d)"
     r"(?:(?:\.\d)?(?: of the License)?,? or \(?at your option\)? any later)?",
     lambda m: ("LGPL-" if re.search(r"Lesser|Library", m.group(0)) else "GPL-") + m.group(1)
     + ("+" if "later" in m.group(0) else "")),
    (r"Creative Commons Attribution[- ]Share[- ]?Alike (\d\.\d)", lambda m: f"CC-BY-SA-{m.group(1)}"),
    (r"Creative Commons Attribution (\d\.\d)", lambda m: f"CC-BY-{m.group(1)}"),
    (r"\bCC0\b", lambda m: "CC0-1.0"),
    (r"public domain", lambda m: "public-domain"),
]


def freeform_licences(text: str) -> List[str]:
    flat = re.sub(r"\s+", " ", text)
    out: List[str] = []
    for pattern, name in _FREEFORM:
        for m in re.finditer(pattern, flat, re.I):
            out.append(name(m))
    return list(dict.fromkeys(out))


def _copyright(tree: Path, name: str) -> str:
    p = tree / "usr/share/doc" / name / "copyright"
    if p.is_symlink() or not p.is_file():  # e.g. a doc folder that links to another package's
        return ""
    return p.read_text(errors="replace")


# -- images ------------------------------------------------------------------------------
def _size(path: Path) -> Optional[Tuple[int, int]]:
    try:
        from PIL import Image as PILImage

        with PILImage.open(path) as im:
            return im.size
    except Exception:
        import cv2

        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        return None if img is None else (img.shape[1], img.shape[0])


FLAT_STD = 8.0  # luminance std (0..255) of the 64x64 thumbnail under which a picture is a flat colour


def _unusable(path: Path, seen: set) -> Optional[str]:
    """Why the picture is no training image (None if it is one): mostly transparent (sprites,
    overlays), a flat colour, or a near duplicate (same 8x8 difference hash) of one in ``seen``."""
    import cv2
    import numpy as np

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        return "unreadable"
    if img.ndim == 3 and img.shape[2] == 4 and (img[..., 3] < 250).mean() > 0.01:
        return "transparent"
    grey = img if img.ndim == 2 else cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)
    if small.std() < FLAT_STD:
        return "flat"
    tiny = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    dhash = "d:" + np.packbits((tiny[:, 1:] > tiny[:, :-1]).ravel()).tobytes().hex()
    if dhash in seen:
        return "near duplicate"
    seen.add(dhash)
    return None


def _held_out(package: str, relpath: str) -> bool:
    return int(hashlib.sha256(f"{package}/{relpath}".encode()).hexdigest(), 16) % HELD_OUT_ONE_IN == 0


def list_images(tree: Path, package: str, version: str, role: str,
                seen_hashes: Optional[set] = None) -> List[Image]:
    """The package's images, one per picture: a folder of resolutions of one wallpaper
    (Plasma's ``contents/images/WxH.jpg``) gives its largest; previews, icons, transparent
    or flat pictures and files already in ``seen_hashes`` (sha256 and difference hashes,
    updated) are left out."""
    text = _copyright(tree, package)
    stanzas, names = parse_copyright(text)
    if stanzas:
        fallback = " / ".join(dict.fromkeys(names))
    elif text:  # free-form: the package's licences, not per image
        fallback = "free-form copyright, one of: " + " / ".join(freeform_licences(text) or ["unknown"])
    else:
        fallback = "unknown (no copyright file)"
    found: Dict[str, Tuple[int, Image]] = {}
    seen_hashes = set() if seen_hashes is None else seen_hashes
    for path in sorted(tree.rglob("*")):
        if path.suffix.lower() not in IMAGE_EXTS or path.is_symlink() or not path.is_file():
            continue
        rel = path.relative_to(tree).as_posix()
        if "/doc/" in rel or "screenshot" in path.name.lower() or "/thumbnails/" in rel:
            continue
        size = _size(path)
        if not size or min(size) < MIN_SIDE:
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen_hashes:
            continue
        seen_hashes.add(digest)
        group = rel.split("/contents/images")[0] if "/contents/images" in rel else rel
        img = Image(str(path), package, version, role, *licence_of(rel, stanzas, fallback), size[0], size[1],
                    path.stat().st_size, _held_out(package, group))
        area = size[0] * size[1]
        if group not in found or area > found[group][0]:
            found[group] = (area, img)
    kept, dropped = [], Counter()
    for _, img in found.values():
        why = _unusable(Path(img.path), seen_hashes)
        if why:
            dropped[why] += 1
        else:
            kept.append(img)
    if dropped:
        log.info("%s: %d images, left out %s", package, len(kept),
                 ", ".join(f"{n} {why}" for why, n in dropped.items()))
    return kept


def extracted_images(tree: Path, package: str, version: str) -> List[Image]:
    """The images EXTRACTED[package] takes out of the package's files, all held out."""
    images = []
    for path, role, licence, holder in EXTRACTED[package](tree):
        size = _size(path)
        if size and min(size) >= MIN_SIDE:
            images.append(Image(str(path), package, version, role, licence, holder, size[0], size[1],
                                path.stat().st_size, True))
    return images


def fetch(packages: Optional[Iterable[str]] = None, root: Optional[os.PathLike | str] = None) -> List[Image]:
    """Fetches ``packages`` (default: PACKAGES) into ``root`` (default: data_root()) and
    returns their images; writes ``root/index.json``. Unknown packages are skipped with a
    warning."""
    root = Path(root) if root else data_root()
    root.mkdir(parents=True, exist_ok=True)
    images: List[Image] = []
    seen: set = set()  # the same file in two packages (a metapackage and its part) counts once
    for name in packages or PACKAGES:
        info = package_info(name)
        if info is None:
            log.warning("apt does not know %s (run apt-get update?): skipped", name)
            continue
        tree = fetch_package(name, root, info.get("Version", "?"))
        if name in EXTRACTED:
            images += extracted_images(tree, name, info.get("Version", "?"))
        else:
            images += list_images(tree, name, info.get("Version", "?"), PACKAGES.get(name, "picture"), seen)
    from stylert.folders import atomic_write

    atomic_write(root / "index.json", json.dumps([asdict(i) for i in images], indent=1))
    return images


def cached(root: Optional[os.PathLike | str] = None) -> List[Image]:
    """The images of the last fetch (``index.json``), without fetching; [] if none."""
    p = (Path(root) if root else data_root()) / "index.json"
    if not p.is_file():
        return []
    return [Image(**d) for d in json.loads(p.read_text())]


def paths(images: Iterable[Image], *, role: Optional[str] = None, held_out: Optional[bool] = False) -> List[str]:
    """Paths of ``images`` with that role (any if None) and held-out flag (any if None)."""
    return [i.path for i in images if (role is None or i.role == role)
            and (held_out is None or i.held_out == held_out)]


def load_pool(paths_: Sequence[str], side: int = 512, root: Optional[os.PathLike | str] = None) -> list:
    """The images at ``paths_`` as 1x3xHxW uint8 RGB tensors, shorter side at most ``side``
    (what data.random_crops draws from; uint8 keeps a few hundred wallpapers in ~0.3 GB).
    Decoded once: the pool is cached in ``root/pool-SIDE-HASH.pt`` (HASH: of the list of paths)."""
    import cv2
    import torch

    key = hashlib.sha256("\n".join(paths_).encode()).hexdigest()
    cache = (Path(root) if root else data_root()) / f"pool-{side}-{key[:12]}.pt"
    if cache.is_file():
        obj = torch.load(cache, weights_only=True)
        if obj.get("key") == key:
            return obj["images"]
    out = []
    for p in paths_:
        img = cv2.imread(p, cv2.IMREAD_COLOR)
        if img is None:
            raise UsageError(f"{p} cannot be read any more: fetch again (python -m stylert.export.data_fetch)")
        h, w = img.shape[:2]
        if min(h, w) > side:
            s = side / min(h, w)
            img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        out.append(torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1)[None].contiguous())
    from .checkpoints import save_atomic

    save_atomic({"key": key, "images": out}, cache)
    return out


def summary(images: List[Image]) -> str:
    by_pkg: Dict[Tuple[str, str], List[Image]] = defaultdict(list)
    for i in images:
        by_pkg[i.package, i.role].append(i)
    lines = [f"{len(images)} images ({sum(i.held_out for i in images)} held out), "
             f"{sum(i.bytes for i in images) / 1e6:.0f} MB"]
    for (pkg, _), imgs in by_pkg.items():
        sides = sorted(min(i.width, i.height) for i in imgs)
        lic = Counter(i.licence for i in imgs)
        lines.append(f"  {pkg} {imgs[0].version} ({imgs[0].role}): {len(imgs)} images, shorter side "
                     f"{sides[0]}..{sides[-1]} (median {sides[len(sides) // 2]}), "
                     f"{sum(i.bytes for i in imgs) / 1e6:.0f} MB; licences: "
                     + ", ".join(f"{k} ({v})" for k, v in lic.most_common()))
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stylert.export.data_fetch", description=__doc__.split("\n\n")[0])
    p.add_argument("packages", nargs="*", help=f"Debian packages (default: {', '.join(PACKAGES)})")
    p.add_argument("--root", help=f"cache folder (default: {data_root()})")
    p.add_argument("--list", action="store_true", help="only summarise what is cached")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from stylert.errors import StylertError

    try:
        images = cached(args.root) if args.list else fetch(args.packages or None, args.root)
    except StylertError as e:
        print(f"error: {e}")
        return e.exit_code
    print(summary(images))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

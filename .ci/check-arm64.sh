#!/usr/bin/env bash
# make check-arm64: cross-build the extension for aarch64 (Jetson's CPU) and, under qemu, in a
# Debian arm64 root made once and cached, run the kernel tests and the pipelines on the bundled
# packages (autoencoder, StyleGAN, AdaIN fp32/fp16/int8 through `stylert verify`, `stylert
# generate`) on PyPI's aarch64 onnxruntime (CPU) and OpenCV wheels, fetched once and unpacked
# into the root (Debian has no onnxruntime); then `stylert stylize` int8 on a small frame,
# compared with the same run on this x86 host. No torch in the root: the tests that need it are
# not run. Needs root (apt-get, debootstrap, chroot) and pip (the venv's, else
# python3's) on an x86-64 Debian host. What it proves and what it does not: docs/jetson.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
t0=$SECONDS
say() { printf 'check-arm64: %s\n' "$*"; }
die() { printf 'check-arm64: FAILED: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (apt-get, debootstrap, chroot)"

CACHE=${STYLERT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stylert}
ROOT=${STYLERT_ARM64_ROOT:-$CACHE/arm64-root}
BUILD=$SRC/build/arm64          # build/ is git-ignored
SUITE=bookworm
# The root's packages; the stamp names them, and a root made from another list is made again.
PACKAGES=python3,python3-numpy,python3-pytest,python3-hypothesis,python3-tqdm,libpython3.11-dev,pybind11-dev,libgomp1
# PyPI's aarch64 wheels for the root's CPython 3.11 (Debian has no onnxruntime), pinned with
# their hashes: the CPU onnxruntime (declares numpy>=1.21.6) and the last headless OpenCV whose
# numpy requirement Debian's python3-numpy 1.24 meets (4.12 wants numpy>=2). Nothing else:
# stylert imports numpy, onnxruntime, cv2 and tqdm, and onnxruntime's own declared dependencies
# (flatbuffers, packaging, protobuf) are not imported to load a model and run it.
WHEELS=(onnxruntime==1.32.0 --hash=sha256:2303372a85299b6757b0e11e1cbf13e410ddf7e10c37f4b37e99d1c90e7daf7c
        opencv-python-headless==4.11.0.86 --hash=sha256:6efabcaa9df731f29e5ea9051776715b1bdd1845d7c9530065c7951d2a2899eb)
WHEELDIR=$CACHE/arm64-wheels
SITE=/opt/stylert-site          # inside the root: the wheels unpacked, on PYTHONPATH
# The tests, none needing torch (the root has none). The kernel: numpy, hypothesis, stylert's
# extension and pure-Python modules, and the kernel benchmark script's two runs (OpenCV, through
# stylert.images). The pipelines on the bundled packages, on onnxruntime-cpu:
# test_bundled (each package in step with its checkpoint; Stylizer, Generator and AutoEncoder
# run the defaults; `stylert verify` of each package: every graph and the whole chain, fp32,
# fp16 and int8, against the PyTorch outputs saved at export) and test_generate (`stylert
# generate`: seeds, grid, truncation, mixing, a walk video, projected w). Left out of those:
# `stylert manifold`'s two tests (its digits come through scikit-learn, not in the root), and
# the two that skip themselves (torch; Xvfb).
TESTS=(tests/test_adain_kernel.py tests/test_adain_bad_inputs.py tests/test_half.py
       tests/test_package.py tests/test_timing.py tests/test_folders.py
       tests/test_bundled.py tests/test_generate.py
       --deselect tests/test_generate.py::test_manifold_outputs_and_pca_report
       --deselect tests/test_generate.py::test_bad_generation_input)

# 1. Host tools (idempotent; apt-get update only when an install fails without it).
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
[ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  mkdir -p "$CACHE"
  { apt-get install -y -qq "${need[@]}" || { apt-get update -qq && apt-get install -y -qq "${need[@]}"; }
  } >"$CACHE/arm64-apt.log" 2>&1 || die "apt-get install ${need[*]}: see $CACHE/arm64-apt.log"
fi
command -v cmake >/dev/null || die "cmake not found (pip install cmake, or apt-get install cmake)"
[ -e /proc/sys/fs/binfmt_misc/register ] ||
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "cannot mount binfmt_misc"
grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null ||
  update-binfmts --enable qemu-aarch64 || die "cannot enable qemu-aarch64 in binfmt_misc"

# 2. The Debian arm64 root, made once (debootstrap, a few minutes) and kept in the cache.
# The mirror is the host's own Debian mirror (apt's sources), else deb.debian.org.
stamp="suite=$SUITE packages=$PACKAGES"
if [ "$(cat "$ROOT/.stylert-stamp" 2>/dev/null)" != "$stamp" ]; then
  [ ! -e "$ROOT" ] || [ -f "$ROOT/.stylert-stamp" ] ||
    die "$ROOT exists and was not made here (no .stylert-stamp): remove it or set STYLERT_ARM64_ROOT"
  mirror=${STYLERT_DEBIAN_MIRROR:-$( { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
      /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } | grep -v '^[[:space:]]*#' |
      grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' || true)}
  mirror=${mirror:-http://deb.debian.org/debian}
  say "making the arm64 root in $ROOT from $mirror (once; a few minutes)"
  # A half-made root is never used: made beside it, renamed into place, stamp written last.
  rm -rf --one-file-system "$ROOT.new" "$ROOT"
  mkdir -p "$(dirname "$ROOT")"
  debootstrap --arch=arm64 --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT.new" "$mirror" \
    >"$CACHE/arm64-root.log" 2>&1 || die "debootstrap failed: see $CACHE/arm64-root.log"
  rm -rf "$ROOT.new"/var/cache/apt/archives/*.deb
  mv "$ROOT.new" "$ROOT"
  echo "$stamp" >"$ROOT/.stylert-stamp"
  say "arm64 root ready ($(du -sh --one-file-system "$ROOT" | cut -f1), $((SECONDS - t0)) s)"
fi
chroot "$ROOT" /usr/bin/python3 -c 'import platform; assert platform.machine() == "aarch64"' ||
  die "the arm64 root's python3 does not run (qemu-aarch64 through binfmt_misc)"

# 3. The wheels, downloaded once (hash-checked; to a .new folder, renamed when complete), and
# unpacked into the root's $SITE (a wheel is a zip; no pip in the root), stamped with the list.
wstamp="${WHEELS[*]}"
if [ "$(cat "$WHEELDIR/.stylert-stamp" 2>/dev/null)" != "$wstamp" ]; then
  PIP=()
  for py in "$SRC/.venv/bin/python" python3; do
    "$py" -m pip --version >/dev/null 2>&1 && { PIP=("$py" -m pip); break; }
  done
  [ ${#PIP[@]} -gt 0 ] || die "pip not found (make setup, or apt-get install python3-pip) to fetch the aarch64 wheels"
  say "downloading the aarch64 wheels: ${WHEELS[*]//--hash=*/}"
  rm -rf "$WHEELDIR.new" "$WHEELDIR"
  mkdir -p "$WHEELDIR.new"
  printf '%s %s\n' "${WHEELS[@]}" >"$WHEELDIR.new/requirements.txt"
  "${PIP[@]}" download -q --disable-pip-version-check --no-deps --only-binary=:all: --require-hashes \
    --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
    --python-version 3.11 --implementation cp --abi cp311 -d "$WHEELDIR.new" \
    -r "$WHEELDIR.new/requirements.txt" >"$CACHE/arm64-wheels.log" 2>&1 ||
    die "pip download failed: see $CACHE/arm64-wheels.log"
  mv "$WHEELDIR.new" "$WHEELDIR"
  echo "$wstamp" >"$WHEELDIR/.stylert-stamp"
fi
if [ "$(cat "$ROOT$SITE/.stylert-stamp" 2>/dev/null)" != "$wstamp" ]; then
  say "unpacking the wheels into $SITE in the root"
  rm -rf "$ROOT$SITE.new" "$ROOT$SITE"
  mkdir -p "$ROOT$SITE.new"
  python3 -c 'import sys, zipfile; [zipfile.ZipFile(w).extractall(sys.argv[1]) for w in sys.argv[2:]]' \
    "$ROOT$SITE.new" "$WHEELDIR"/*.whl || die "cannot unpack the wheels"
  find "$ROOT$SITE.new" -name '*.so*' -exec chmod 755 {} +   # zipfile drops the modes
  mv "$ROOT$SITE.new" "$ROOT$SITE"
  echo "$wstamp" >"$ROOT$SITE/.stylert-stamp"
fi

# 4. Cross-build the extension (CPU kernels, OpenMP; no CUDA, no -march=native).
t1=$SECONDS
mkdir -p "$BUILD"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_TOOLCHAIN_FILE="$SRC/cmake/aarch64-linux-gnu.cmake" \
  -DSTYLERT_ARM64_ROOT="$ROOT" -DSTYLERT_CUDA=OFF -DSTYLERT_NATIVE=OFF \
  -DCMAKE_BUILD_TYPE=Release >"$BUILD/build.log" 2>&1 &&
  cmake --build "$BUILD" -j "$(nproc)" >>"$BUILD/build.log" 2>&1 ||
  { tail -n 30 "$BUILD/build.log" >&2; die "cross-build failed: see $BUILD/build.log"; }
so=$(ls "$BUILD"/_adain*.so)
say "built $(basename "$so") ($((SECONDS - t1)) s)"

# 5. The pure-Python runtime as `stylert` plus the extension, and the tests, inside the root.
DEST=/opt/stylert-check
rm -rf "${ROOT:?}$DEST"
mkdir -p "$ROOT$DEST/stylert" "$ROOT$DEST/tests" "$ROOT$DEST/benchmarks"
cp -r runtime/. "$ROOT$DEST/stylert/"
rm -f "$ROOT$DEST/stylert/export"              # a dev checkout's runtime/export -> ../export, if any: as a wheel installs it
cp -r export "$ROOT$DEST/stylert/export"       # (test_bundled reads export/defaults' checkpoints)
find "$ROOT$DEST/stylert" \( -name __pycache__ -o -name '*.so' \) -prune -exec rm -rf {} +
cp "$so" "$ROOT$DEST/stylert/"
cp pyproject.toml "$ROOT$DEST/"
cp tests/*.py "$ROOT$DEST/tests/"             # the tests and their helpers (conftest, reference)
cp benchmarks/*.py "$ROOT$DEST/benchmarks/"   # test_package runs benchmarks/adain_kernel.py

# 6. Under qemu: the extension is an aarch64 ELF and imports, then the tests. The root gets
# /proc, as a real machine has (sysinfo reads its own peak memory there: VmHWM); not /sys: with
# it, onnxruntime's cpuinfo reads this x86 host's /proc/cpuinfo (qemu-user passes it through)
# as an ARM one and `import onnxruntime` crashes (SIGSEGV). Without /sys it says it cannot parse
# the processor lists (on stderr) and falls back to its defaults: a difference from a Jetson.
mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc" || die "cannot mount /proc in the root"
trap 'umount "$ROOT/proc" 2>/dev/null || true' EXIT
run() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
  PYTHONPATH=$DEST:$SITE PYTHONDONTWRITEBYTECODE=1 ${CI:+CI=$CI} /bin/sh -c "cd $DEST && $1"; }
run 'python3 - <<"EOF"
import glob, platform, struct
so, = glob.glob("stylert/_adain*.so")
head = open(so, "rb").read(20)
machine = struct.unpack("<H", head[18:20])[0]
assert head[:4] == b"\x7fELF" and head[4] == 2 and machine == 183, f"{so}: not a 64-bit aarch64 ELF (e_machine {machine})"
import stylert
from stylert import _adain
print(f"check-arm64: {so}: ELF64 aarch64 (e_machine 183), imports on {platform.machine()};"
      f" build_info {_adain.build_info()}")
EOF' || die "the extension is not an importable aarch64 module"
t2=$SECONDS
say "under qemu-aarch64: pytest ${TESTS[*]}"
run "python3 -m pytest -q -p no:cacheprovider ${TESTS[*]}" 2>&1 | tee "$BUILD/pytest.log" ||
  die "tests failed under qemu-aarch64 (above; log: $BUILD/pytest.log)"
# 7. `stylert stylize --precision int8` (the CPU's fastest; fp32 ran in test_bundled, the
# Stylizer on a 40x30 frame) on a small frame: coffee.jpg at 96 px, the bundled style (encoded
# at 512 px), under qemu, and the same command here on x86 in the venv (skipped where it has no
# stylert: make setup), the two outputs compared. Both must also pass the export's rule against
# PyTorch (`stylert verify` above); this is the two machines' int8 kernels side by side, and
# fails only below 40 dB (a broken kernel, not a rounding: they agreed to the bit when written).
t3=$SECONDS
args="coffee.jpg --style brushwork.jpg --size 96 --backend onnxruntime-cpu --precision int8"
# The output (and onnxruntime's cpuinfo complaints) to a log, shown if it fails.
run "cd stylert/assets && STYLERT_CACHE=$DEST/out/cache python3 -m stylert.cli stylize $args -o $DEST/out/arm64" \
  >"$BUILD/stylize.log" 2>&1 || { cat "$BUILD/stylize.log" >&2; die "stylert stylize failed under qemu-aarch64"; }
if "$SRC/.venv/bin/python" -c 'import stylert' 2>/dev/null; then
  (cd "$SRC/runtime/assets" && STYLERT_CACHE="$ROOT$DEST/out/x86-cache" "$SRC/.venv/bin/python" -m stylert.cli \
    stylize $args -o "$ROOT$DEST/out/x86") >"$BUILD/stylize-x86.log" 2>&1 ||
    { cat "$BUILD/stylize-x86.log" >&2; die "stylert stylize failed here on x86"; }
  run "python3 - <<'EOF'
import cv2, numpy as np, onnxruntime
a, b = (cv2.imread(f'out/{m}/coffee.png').astype(int) for m in ('arm64', 'x86'))
assert a.shape == b.shape == (96, 144, 3), (a.shape, b.shape)
d = np.abs(a - b)
mse = float(np.mean(d ** 2))
psnr = 10 * np.log10(255 ** 2 / mse) if mse else float('inf')
print(f'check-arm64: stylize int8 144x96, aarch64 (onnxruntime {onnxruntime.__version__}) vs x86:'
      f' max abs {d.max()}, {np.count_nonzero(d)} of {d.size} values differ, PSNR {psnr:.1f} dB')
assert psnr >= 40, 'below 40 dB'
EOF" || die "stylize: the aarch64 and x86 outputs differ (above)"
else
  say "stylize: no stylert in $SRC/.venv here: the x86 comparison skipped (make setup)"
fi
say "OK: aarch64 extension built and tested under qemu: $(grep -E '(passed|failed)' \
  "$BUILD/pytest.log" | tail -n1 | tr -d '=' | xargs) (tests $((t3 - t2)) s, stylize $((SECONDS - t3)) s, total $((SECONDS - t0)) s)"

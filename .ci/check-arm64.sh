#!/usr/bin/env bash
# make check-arm64: cross-build the extension for aarch64 (Jetson's CPU) and run the tests that
# need neither torch nor onnxruntime under qemu, in a Debian arm64 root made once and cached.
# Needs root (apt-get, debootstrap, chroot) on an x86-64 Debian host. What it proves and what
# it does not: README, "Jetson".
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
# The tests that need only numpy, hypothesis and stylert's kernel or pure-Python modules (the
# root has no onnxruntime, OpenCV or torch: Debian has no onnxruntime). Left out of those: the
# kernel benchmark script's two runs (stylert.apps.bench imports OpenCV through stylert.images).
TESTS=(tests/test_adain_kernel.py tests/test_adain_bad_inputs.py tests/test_half.py
       tests/test_package.py tests/test_timing.py tests/test_folders.py
       --deselect tests/test_package.py::test_kernel_benchmark_runs
       --deselect tests/test_package.py::test_kernel_benchmark_rejects_bad_sizes)

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

# 3. Cross-build the extension (CPU kernels, OpenMP; no CUDA, no -march=native).
t1=$SECONDS
mkdir -p "$BUILD"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_TOOLCHAIN_FILE="$SRC/cmake/aarch64-linux-gnu.cmake" \
  -DSTYLERT_ARM64_ROOT="$ROOT" -DSTYLERT_CUDA=OFF -DSTYLERT_NATIVE=OFF \
  -DCMAKE_BUILD_TYPE=Release >"$BUILD/build.log" 2>&1 &&
  cmake --build "$BUILD" -j "$(nproc)" >>"$BUILD/build.log" 2>&1 ||
  { tail -n 30 "$BUILD/build.log" >&2; die "cross-build failed: see $BUILD/build.log"; }
so=$(ls "$BUILD"/_adain*.so)
say "built $(basename "$so") ($((SECONDS - t1)) s)"

# 4. The pure-Python runtime as `stylert` plus the extension, and the tests, inside the root.
DEST=/opt/stylert-check
rm -rf "${ROOT:?}$DEST"
mkdir -p "$ROOT$DEST/stylert" "$ROOT$DEST/tests" "$ROOT$DEST/benchmarks"
cp -r runtime/. "$ROOT$DEST/stylert/"
find "$ROOT$DEST/stylert" \( -name __pycache__ -o -name '*.so' \) -prune -exec rm -rf {} +
cp "$so" "$ROOT$DEST/stylert/"
cp pyproject.toml "$ROOT$DEST/"
cp tests/*.py "$ROOT$DEST/tests/"             # the tests and their helpers (conftest, reference)
cp benchmarks/*.py "$ROOT$DEST/benchmarks/"   # test_package runs benchmarks/adain_kernel.py

# 5. Under qemu: the extension is an aarch64 ELF and imports, then the tests.
run() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
  PYTHONPATH=$DEST PYTHONDONTWRITEBYTECODE=1 ${CI:+CI=$CI} /bin/sh -c "cd $DEST && $1"; }
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
say "OK: aarch64 extension built and tested under qemu: $(grep -E '(passed|failed)' \
  "$BUILD/pytest.log" | tail -n1 | tr -d '=' | xargs) (tests $((SECONDS - t2)) s, total $((SECONDS - t0)) s)"

#!/usr/bin/env bash
# Build an emulated ARM64 environment: the package's ROS-free code and shipped models run on
# the CPU cores of a Raspberry Pi 4 (Cortex-A72) and a Raspberry Pi 5 (Cortex-A76), emulated
# by qemu on this x86 machine. test/test_arm64.py uses it to check that the robot's ARM
# build of ONNX Runtime and OpenCV gives the same answers as this machine. It shows that the
# results are correct on ARM; it says nothing about speed, since emulation is 40 to 70 times slower.
#
# Builds $MARRTINO_ARM64_DIR (default <repo>/.arm64):
#   root/        Debian 12's arm64 CPython 3.11 and the C libraries it needs (apt-get download,
#                unpacked with dpkg -x; nothing is installed on this machine for arm64)
#   site/        the aarch64 wheels of requirements/arm64.txt (pip --platform, binary only)
#   cpuinfo/     a /proc/cpuinfo for each emulated core
#   bin/python   that interpreter under qemu-aarch64-static; MARRTINO_ARM64_CPU picks the core:
#                cortex-a76 (default; has the int8 dot-product instructions) or cortex-a72 (has none)
#
# Needs root once: apt-get installs qemu-user-static and adds arm64 to dpkg's architectures so
# that apt can download arm64 packages. bin/python mounts the core's cpuinfo over /proc/cpuinfo
# in a private mount namespace (unshare -m as root, else in a user namespace, unshare -rm),
# because under qemu 7.2 the host's x86 /proc/cpuinfo shows through and ONNX Runtime's CPU
# detection crashes on it.
# Idempotent: a stamp holds a hash of this script and the requirements file.
#
# Usage: scripts/setup_arm64.sh [--quiet]
set -euo pipefail

QUIET=0
for arg in "$@"; do
    case "$arg" in
        --quiet|-q) QUIET=1 ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup_arm64: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DIR="${MARRTINO_ARM64_DIR:-$REPO/.arm64}"
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
REQ="$REPO/requirements/arm64.txt"
STAMP="$DIR/.stamp"
LOG="$DIR/setup.log"
PYVER=3.11

say() { echo "[setup_arm64] $*" >&2; }
die() { echo "[setup_arm64] ERROR: $*" >&2; exit 1; }
fail_step() { [[ -f "$LOG" ]] && tail -n 20 "$LOG" >&2; die "$1 (full log: $LOG)"; }

WANT="$(cat "${BASH_SOURCE[0]}" "$REQ" | sha256sum | cut -c1-16)"
if [[ -x "$DIR/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] &&
        command -v qemu-aarch64-static >/dev/null; then
    [[ $QUIET == 1 ]] || say "ARM64 environment up to date: $DIR"
    exit 0
fi

[[ "$(uname -m)" == x86_64 ]] || die "this emulates ARM64 on an x86_64 machine; here uname -m is $(uname -m)"
command -v apt-get >/dev/null || die "needs apt-get (Debian or Ubuntu)"
T0=$SECONDS
mkdir -p "$DIR"
: >"$DIR/COLCON_IGNORE"  # keep colcon from crawling the wheels when this lies in a workspace
: >"$LOG"

# 1. qemu and the arm64 package index ------------------------------------------------
if ! command -v qemu-aarch64-static >/dev/null || ! dpkg --print-foreign-architectures | grep -qx arm64; then
    [[ "$(id -u)" == 0 ]] || die "needs root once, to install qemu-user-static and add arm64 to apt's architectures: run it with sudo"
    say "installing qemu-user-static and the arm64 package index (apt-get)"
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    DEBIAN_FRONTEND=noninteractive apt-get update >>"$LOG" 2>&1 || fail_step "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends qemu-user-static \
        >>"$LOG" 2>&1 || fail_step "apt-get install qemu-user-static failed"
fi

# 2. CPython 3.11 for arm64, unpacked into root/ ----------------------------------------
# The interpreter and the shared libraries that it and the wheels load.
DEBS="libc6 libgcc-s1 libstdc++6 libgomp1 python3.11-minimal libpython3.11-minimal
libpython3.11-stdlib zlib1g libexpat1 libssl3 libffi8 libbz2-1.0 liblzma5 libsqlite3-0
libncursesw6 libtinfo6 libreadline8 libuuid1 libcrypt1 libnsl2 libtirpc3 libdb5.3
libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1"
say "downloading Debian's arm64 CPython $PYVER"
rm -rf "$DIR/debs" "$DIR/root"
mkdir -p "$DIR/debs" "$DIR/root"
# shellcheck disable=SC2046
(cd "$DIR/debs" && apt-get download $(printf '%s:arm64 ' $DEBS)) >>"$LOG" 2>&1 \
    || fail_step "apt-get download of the arm64 packages failed"
for deb in "$DIR"/debs/*.deb; do dpkg -x "$deb" "$DIR/root"; done
rm -rf "$DIR/debs"
[[ -x "$DIR/root/usr/bin/python$PYVER" ]] || die "no python$PYVER in the arm64 packages"

# 3. the aarch64 wheels --------------------------------------------------------------
HOST_PY="$(command -v python3 || true)"
[[ -n "$HOST_PY" ]] || die "needs a python3 with pip on this machine to download the wheels"
say "downloading the aarch64 wheels of requirements/arm64.txt"
rm -rf "$DIR/site"
"$HOST_PY" -m pip install --disable-pip-version-check --target "$DIR/site" \
    --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 \
    --platform manylinux2014_aarch64 --python-version "$PYVER" --implementation cp \
    --abi "cp${PYVER/./}" --only-binary=:all: -r "$REQ" >>"$LOG" 2>&1 \
    || fail_step "pip could not get aarch64 wheels for requirements/arm64.txt"

# 4. /proc/cpuinfo of each core (as Linux shows them on a Raspberry Pi 4 and 5) ----------
mkdir -p "$DIR/cpuinfo" "$DIR/bin"
cpuinfo() {  # cpuinfo FEATURES VARIANT PART REVISION
    local n
    for n in 0 1 2 3; do
        printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\n' "$n" "$1"
        printf 'CPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' "$2" "$3" "$4"
    done
}
cpuinfo "fp asimd evtstrm crc32 cpuid" 0x0 0xd08 3 >"$DIR/cpuinfo/cortex-a72"
cpuinfo "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" \
    0x4 0xd0b 1 >"$DIR/cpuinfo/cortex-a76"

# 5. the interpreter's wrapper ---------------------------------------------------------
cat >"$DIR/bin/python" <<EOF
#!/bin/sh
# Debian's arm64 CPython $PYVER under qemu (written by scripts/setup_arm64.sh).
# MARRTINO_ARM64_CPU: cortex-a76 (default) or cortex-a72.
dir="$DIR"
cpu="\${MARRTINO_ARM64_CPU:-cortex-a76}"
if [ ! -f "\$dir/cpuinfo/\$cpu" ]; then
    echo "MARRTINO_ARM64_CPU=\$cpu is not an emulated core here: use cortex-a72 or cortex-a76" >&2
    exit 2
fi
export QEMU_CPU="\$cpu" QEMU_LD_PREFIX="\$dir/root"
unset LD_LIBRARY_PATH LD_PRELOAD  # the caller's are x86 libraries
export PYTHONPATH="\$dir/site:$REPO"  # not the caller's: it may hold x86 modules
ns=-rm  # a user namespace, in which an unprivileged user may mount
[ "\$(id -u)" = 0 ] && ns=-m
exec unshare "\$ns" sh -c 'mount --bind "\$0" /proc/cpuinfo && exec qemu-aarch64-static "\$@"' \\
    "\$dir/cpuinfo/\$cpu" "\$dir/root/usr/bin/python$PYVER" "\$@"
EOF
chmod +x "$DIR/bin/python"

MACHINE="$("$DIR/bin/python" -c 'import platform, onnxruntime, cv2; print(platform.machine())' 2>>"$LOG")" \
    || fail_step "the arm64 interpreter does not start, or cannot import onnxruntime and cv2"
[[ "$MACHINE" == aarch64 ]] || die "the emulated interpreter reports $MACHINE, not aarch64"
echo "$WANT" >"$STAMP"
say "ARM64 environment ready: $DIR ($((SECONDS - T0)) s)"

#!/usr/bin/env bash
# Build an emulated ARM64 environment: the package's ROS-free code and shipped models run on
# the CPU cores of a Raspberry Pi 4 (Cortex-A72) and a Raspberry Pi 5 (Cortex-A76), emulated
# by qemu on this x86 Debian 12 machine. test/test_arm64.py uses it to check that the ARM
# builds of ONNX Runtime and OpenCV give the same answers as this machine. It checks answers,
# not speed: a photo takes 2.7 s on the emulated A76 and 4.6 s on the A72, 0.07 s natively.
#
# Builds $MARRTINO_ARM64_DIR (default <repo>/.arm64):
#   root/        Debian 12's arm64 CPython 3.11 and the C libraries it needs (apt-get download,
#                unpacked with dpkg -x; nothing is installed on this machine for arm64)
#   site/        the aarch64 wheels of requirements/arm64.txt (pip --platform, binary only)
#   cpuinfo/     a /proc/cpuinfo for each emulated core
#   bin/python   that interpreter under qemu-aarch64-static; MARRTINO_ARM64_CPU picks the core:
#                cortex-a76 (default; has the int8 dot-product instructions) or cortex-a72 (has none)
#
# Root is needed once, for apt: to install qemu-user-static and to add arm64 to dpkg's
# architectures so that apt can download arm64 packages (as root the script does it; otherwise
# it prints the commands). bin/python mounts the core's cpuinfo over /proc/cpuinfo in a private
# mount namespace (unshare -m as root, else unshare -rm, a user namespace), because under qemu
# 7.2 the host's x86 /proc/cpuinfo shows through and ONNX Runtime's CPU detection crashes on it.
# Idempotent: a stamp holds a hash of this script and the requirements file.
#
# Usage: scripts/setup_arm64.sh [--quiet]
set -euo pipefail

QUIET=0
for arg in "$@"; do
    case "$arg" in
        --quiet|-q) QUIET=1 ;;
        -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

WANT="$(cat "${BASH_SOURCE[0]}" "$REQ" | sha256sum | cut -c1-16) $DIR $REPO"
if [[ -x "$DIR/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] &&
        command -v qemu-aarch64-static >/dev/null; then
    [[ $QUIET == 1 ]] || say "ARM64 environment up to date: $DIR"
    exit 0
fi

# ---------------------------------------------------------------- checks
[[ "$(uname -m)" == x86_64 ]] || die "this emulates ARM64 on an x86_64 machine; here uname -m is $(uname -m)"
# The package list below is Debian 12's (bookworm): its python3.11, libssl3, ...
OS="$(. /etc/os-release 2>/dev/null && echo "${ID:-?} ${VERSION_ID:-?}")"
[[ "$OS" == "debian 12" ]] || die "needs Debian 12 (bookworm), whose arm64 packages it fetches; this is ${OS:-unknown}"
if [[ -e "$DIR" && ! -f "$DIR/COLCON_IGNORE" ]] && [[ -n "$(ls -A "$DIR" 2>/dev/null)" ]]; then
    die "$DIR exists and is not an ARM64 environment of this script: remove it or set MARRTINO_ARM64_DIR"
fi
mkdir -p "$DIR" 2>/dev/null && [[ -w "$DIR" ]] || die "cannot write $DIR: run as its owner, or set MARRTINO_ARM64_DIR"
HOST_PY="$(command -v python3 || true)"
[[ -n "$HOST_PY" ]] && "$HOST_PY" -m pip --version >/dev/null 2>&1 ||
    die "needs python3 with pip on this machine, to download the aarch64 wheels (apt-get install python3-pip)"
ROOT=0
[[ "$(id -u)" == 0 ]] && ROOT=1
HAVE_ARM64=0
dpkg --print-foreign-architectures | grep -qx arm64 && HAVE_ARM64=1
if [[ $ROOT == 0 ]] && { ! command -v qemu-aarch64-static >/dev/null || [[ $HAVE_ARM64 == 0 ]]; }; then
    die "needs root once: sudo apt-get install qemu-user-static && sudo dpkg --add-architecture arm64 && sudo apt-get update, then run this again"
fi
NS=-rm  # a user namespace, in which an unprivileged user may mount
[[ $ROOT == 1 ]] && NS=-m
unshare "$NS" sh -c 'mount --bind /proc/version /proc/cpuinfo' 2>/dev/null ||
    die "cannot mount in a private namespace here (unshare $NS): run as root, or allow unprivileged user namespaces"

T0=$SECONDS
rm -f "$STAMP"
: >"$DIR/COLCON_IGNORE"  # marks the folder as ours; keeps colcon from crawling the wheels
: >"$LOG"

# 1. qemu and a fresh arm64 package index (as root) -----------------------------------
if [[ $ROOT == 1 ]]; then
    say "apt-get: qemu-user-static and the arm64 package index"
    ADDED=0
    if [[ $HAVE_ARM64 == 0 ]]; then
        dpkg --add-architecture arm64
        ADDED=1
    fi
    if ! DEBIAN_FRONTEND=noninteractive apt-get update >>"$LOG" 2>&1; then
        [[ $ADDED == 0 ]] || dpkg --remove-architecture arm64  # leave apt as it was
        fail_step "apt-get update failed"
    fi
    if ! command -v qemu-aarch64-static >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends qemu-user-static \
            >>"$LOG" 2>&1 || fail_step "apt-get install qemu-user-static failed"
    fi
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
(cd "$DIR/debs" && apt-get download $(printf '%s:arm64 ' $DEBS)) >>"$LOG" 2>&1 ||
    fail_step "apt-get download of the arm64 packages failed (if the package index is old: sudo apt-get update)"
for deb in "$DIR"/debs/*.deb; do dpkg -x "$deb" "$DIR/root"; done
rm -rf "$DIR/debs"
[[ -x "$DIR/root/usr/bin/python$PYVER" ]] || die "no python$PYVER in the arm64 packages"

# 3. the aarch64 wheels (any manylinux that Debian 12's glibc 2.36 runs) ------------------
say "downloading the aarch64 wheels of requirements/arm64.txt"
rm -rf "$DIR/site"
# pip takes --platform tags literally: name every manylinux_2_N up to 2.36 (and its alias
# manylinux2014 for 2.17)
PLATFORMS=(--platform manylinux2014_aarch64)
for n in $(seq 17 36); do PLATFORMS+=(--platform "manylinux_2_${n}_aarch64"); done
"$HOST_PY" -m pip install --disable-pip-version-check --target "$DIR/site" "${PLATFORMS[@]}" \
    --python-version "$PYVER" --implementation cp --abi "cp${PYVER/./}" \
    --only-binary=:all: -r "$REQ" >>"$LOG" 2>&1 ||
    fail_step "pip could not get aarch64 wheels for requirements/arm64.txt"

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
{
    echo '#!/bin/sh'
    echo "# Debian's arm64 CPython $PYVER under qemu (written by scripts/setup_arm64.sh)."
    echo '# MARRTINO_ARM64_CPU: cortex-a76 (default) or cortex-a72.'
    printf 'repo=%q\n' "$REPO"
    cat <<'EOF'
dir="$(cd "$(dirname "$0")/.." && pwd -P)"
cpu="${MARRTINO_ARM64_CPU:-cortex-a76}"
if [ ! -f "$dir/cpuinfo/$cpu" ]; then
    echo "MARRTINO_ARM64_CPU=$cpu is not an emulated core here: use cortex-a72 or cortex-a76" >&2
    exit 2
fi
export QEMU_CPU="$cpu" QEMU_LD_PREFIX="$dir/root"
unset LD_LIBRARY_PATH LD_PRELOAD  # the caller's are x86 libraries
export PYTHONPATH="$dir/site:$repo"  # not the caller's: it may hold x86 modules
ns=-rm  # a user namespace, in which an unprivileged user may mount
[ "$(id -u)" = 0 ] && ns=-m
exec unshare "$ns" sh -c 'mount --bind "$0" /proc/cpuinfo && exec qemu-aarch64-static "$@"' \
    "$dir/cpuinfo/$cpu" "$dir/root/usr/bin/python3.11" "$@"
EOF
} >"$DIR/bin/python"
chmod +x "$DIR/bin/python"

MACHINE="$("$DIR/bin/python" -c 'import platform, onnxruntime, cv2; print(platform.machine())' 2>>"$LOG")" ||
    fail_step "the arm64 interpreter does not start, or cannot import onnxruntime and cv2"
[[ "$MACHINE" == aarch64 ]] || die "the emulated interpreter reports $MACHINE, not aarch64"
echo "$WANT" >"$STAMP"
say "ARM64 environment ready: $DIR ($((SECONDS - T0)) s)"

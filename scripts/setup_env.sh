#!/usr/bin/env bash
# Create or update the project's development environment (see DEVELOPERS.md):
#   - a venv at $MARRTINO_VENV with the ROS 2 wheels of $MARRTINO_DISTRO (scripts/distro.sh):
#     kilted (default): Python 3.11, requirements/env.txt, <repo>/.venv;
#     jazzy: Python 3.12, requirements/env-jazzy.txt, <repo>/.venv-jazzy;
#     humble-libs: Python 3.10, requirements/env-humble-libs.txt, <repo>/.venv-humble-libs
#     (no ROS: Ubuntu 22.04's NumPy, OpenCV, SciPy for the ROS-free code)
#     (the face detectors' weights ship in models/face_detectors: no extra package);
#   - the /opt/python/cpXY-cpXY links that the ROS wheels' CMake files expect;
#   - the vendored interfaces/vision_msgs, built with colcon into <venv>/ros_ws, but only
#     where no vision_msgs Python package is importable already (a distro install).
# Idempotent: a stamp in the venv holds hashes of the requirements file (and the files it
# includes), interfaces/** and the scripts; only the steps whose inputs changed are redone,
# and a no-op run takes well under 2 s.
#
# Usage: [MARRTINO_DISTRO=jazzy] scripts/setup_env.sh [--quiet]
#   (--quiet: say nothing when already up to date)
# Progress goes to stderr; full tool output goes to <venv>/setup.log.
set -euo pipefail

QUIET=0
for arg in "$@"; do
    case "$arg" in
        --quiet|-q) QUIET=1 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup_env: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck source=distro.sh
source "$REPO/scripts/distro.sh"
DISTRO_SPEC="$(marrtino_distro_spec)" || exit 2
read -r PYVER REQ_NAME VENV_NAME _ <<<"$DISTRO_SPEC"
VENV="${MARRTINO_VENV:-$REPO/$VENV_NAME}"
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
WS="$VENV/ros_ws"
STAMP="$VENV/.marrtino_setup_stamp"
LOG="$VENV/setup.log"
REQ="$REPO/$REQ_NAME"
OPT_PY="/opt/python/cp${PYVER/./}-cp${PYVER/./}"
OPT_PY_INCLUDE="$OPT_PY/include/python$PYVER"
OPT_NP_INCLUDE="$OPT_PY/lib/python$PYVER/site-packages/numpy/_core/include"

say() { echo "[setup_env] $*" >&2; }
die() { echo "[setup_env] ERROR: $*" >&2; exit 1; }

# Show the end of the log (minus pip's noise) and fail with one clear line.
fail_step() {
    if [[ -f "$LOG" ]]; then
        grep -v -e "is ignored: it is neither a file nor a directory" "$LOG" | tail -n 25 >&2 || true
    fi
    die "$1 (full log: $LOG)"
}

# Content hashes (file names are left out, so they do not depend on how the script was invoked).
hash_of() { cat -- "$@" | sha256sum | cut -c1-16; }

# The requirements file and the files it includes with "-r FILE" (relative to it), recursively.
req_files() {
    local file="${1:-$REQ}" inc
    echo "$file"
    sed -n 's/^[[:space:]]*-r[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$file" | while read -r inc; do
        req_files "$(dirname "$file")/$inc"
    done
}
hash_req() { local f; mapfile -t f < <(req_files); hash_of "${f[@]}"; }
hash_script() { hash_of "${BASH_SOURCE[0]}" "$REPO/scripts/distro.sh"; }
hash_ifaces() {
    (cd "$REPO" && find interfaces -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) \
        | sha256sum | cut -c1-16
}

while read -r f; do [[ -f "$f" ]] || die "missing $f"; done < <(req_files)
[[ -d "$REPO/interfaces/vision_msgs" ]] || die "missing $REPO/interfaces/vision_msgs"

WANT_REQ="$(hash_req)"
WANT_IFACES="$(hash_ifaces)"
WANT_SCRIPT="$(hash_script)"

stamp_get() {  # stamp_get KEY -> value or empty
    [[ -f "$STAMP" ]] || return 0
    sed -n "s/^$1=//p" "$STAMP" | head -n 1
}

links_ok() { [[ -f "$OPT_PY_INCLUDE/Python.h" && -d "$OPT_NP_INCLUDE/numpy" ]]; }

strip_ours() {  # drop our workspace's and the repo root's entries from a path list
    local IFS=: p out=""
    for p in $1; do
        [[ -n "$p" && "$p" != "$WS"/* && "$p" != "$REPO" ]] && out="${out:+$out:}$p"
    done
    echo "$out"
}
# With a distro vision_msgs in use, its PYTHONPATH is part of what the stamp records.
FOREIGN_PYTHONPATH="$(strip_ours "${PYTHONPATH:-}")"

# ---------------------------------------------------------------- fast path (no Python start)
up_to_date() {
    [[ -x "$VENV/bin/python" && -f "$STAMP" ]] || return 1
    [[ "$(stamp_get script)" == "$WANT_SCRIPT" ]] || return 1
    [[ "$(stamp_get req)" == "$WANT_REQ" ]] || return 1
    case "$(stamp_get vision_msgs)" in
        system) [[ "$(stamp_get pythonpath)" == "$FOREIGN_PYTHONPATH" ]] || return 1 ;;
        built)
            [[ "$(stamp_get interfaces)" == "$WANT_IFACES" ]] || return 1
            [[ -d "$WS/install/lib/python$PYVER/site-packages/vision_msgs" ]] || return 1
            links_ok || return 1 ;;
        none) ! marrtino_distro_has_ros || return 1 ;;
        *) return 1 ;;
    esac
}

if up_to_date; then
    [[ $QUIET == 1 ]] || say "environment up to date: $VENV"
    exit 0
fi

# ---------------------------------------------------------------- slow path
mkdir -p "$VENV" 2>/dev/null || die "cannot create $VENV"
# One setup at a time (e.g. two env.sh calls racing on a fresh clone).
exec 9>"$VENV/.marrtino_setup.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
    if up_to_date; then   # somebody else finished it while we waited
        [[ $QUIET == 1 ]] || say "environment up to date: $VENV"
        exit 0
    fi
fi
: >"$LOG"
T_ALL=$SECONDS
# Keep colcon from crawling the venv (and the vision_msgs copy in it) when the venv lies
# inside a workspace or this repo.
[[ -e "$VENV/COLCON_IGNORE" ]] || : >"$VENV/COLCON_IGNORE"

# Everything the steps run sees only the venv's ROS, not a distro's that may be sourced.
export PATH="$VENV/bin:$PATH"
export VIRTUAL_ENV="$VENV"
unset PYTHONHOME

# The venv's interpreter, and how to start it with the ROS libs found without the
# ros_wheels_bootstrapper's re-exec.
venv_ld_path() {
    local sp="$VENV/lib/python$PYVER/site-packages" d out="$VENV/lib"
    for d in "$sp"/ros_*.libs; do [[ -d "$d" ]] && out="$out:$d"; done
    echo "$out"
}

# 1. venv ------------------------------------------------------------------
OLD_SCRIPT="$(stamp_get script)"
if [[ ! -x "$VENV/bin/python" ]]; then
    BASE_PY=""
    if [[ -n "${MARRTINO_PYTHON:-}" ]]; then
        marrtino_python_is "$PYVER" "$MARRTINO_PYTHON" \
            || die "MARRTINO_PYTHON=$MARRTINO_PYTHON is not a Python $PYVER interpreter"
        BASE_PY="$MARRTINO_PYTHON"
    else
        BASE_PY="$(marrtino_find_python "$PYVER")" || BASE_PY=""
    fi
    [[ -n "$BASE_PY" ]] || die "Python $PYVER not found (the ${MARRTINO_DISTRO:-kilted} ROS wheels are cp${PYVER/./}); set MARRTINO_PYTHON=/path/to/python$PYVER"
    say "creating venv $VENV (with $(command -v "$BASE_PY"))"
    "$BASE_PY" -m venv "$VENV" >>"$LOG" 2>&1 || fail_step "python -m venv $VENV failed"
    rm -f "$STAMP"
fi
PY="$VENV/bin/python"
[[ "$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" == "$PYVER" ]] \
    || die "$VENV is not a Python $PYVER venv; remove it (rm -rf $VENV) and run again"

# 2. pip packages ----------------------------------------------------------------
if [[ "$(stamp_get req)" != "$WANT_REQ" || "$OLD_SCRIPT" != "$WANT_SCRIPT" ]]; then
    say "installing Python packages from $REQ_NAME (a few minutes for a new venv) ..."
    t=$SECONDS
    "$PY" -m pip install --disable-pip-version-check --no-input -q -r "$REQ" >>"$LOG" 2>&1 \
        || fail_step "pip install -r $REQ_NAME failed"
    say "  Python packages ready ($((SECONDS - t)) s)"
    # Record progress now, so that a later failure does not redo this step; step 3's
    # record stays as it was (step 3 checks its own output before trusting it).
    old_ifaces="$(stamp_get interfaces)" old_vm=""
    [[ "$OLD_SCRIPT" != "$WANT_SCRIPT" ]] || old_vm="$(stamp_get vision_msgs)"
    {
        echo "req=$WANT_REQ"
        echo "interfaces=$old_ifaces"
        echo "script=$WANT_SCRIPT"
        echo "vision_msgs=$old_vm"
    } >"$STAMP"
fi

# 3. vision_msgs: distro package, or build the vendored copy -------------------------
# Importable without our own workspace on the path, with working type support?
system_vision_msgs() {
    PYTHONPATH="$(strip_ours "${PYTHONPATH:-}")" \
    LD_LIBRARY_PATH="$(venv_ld_path)$(p="$(strip_ours "${LD_LIBRARY_PATH:-}")"; echo "${p:+:$p}")" \
    _ROS_WHEELS_BOOTSTRAP_COMPLETE=1 \
    "$PY" -c '
from vision_msgs.msg import Detection2DArray as M
type(M).__import_type_support__()
assert type(M)._TYPE_SUPPORT is not None
' >/dev/null 2>&1
}

ensure_opt_python_links() {
    local py_inc np_inc
    py_inc="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    np_inc="$("$PY" -c 'import numpy; print(numpy.get_include())')" \
        || die "numpy is not importable in $VENV"
    [[ -f "$py_inc/Python.h" ]] \
        || die "Python headers not found in $py_inc (install the python$PYVER development headers)"
    # The ROS wheels were built in a manylinux image whose Python lives in $OPT_PY; their
    # exported CMake targets name its include directories. Point those names at ours.
    # A real directory there (e.g. inside such an image) is left alone.
    link_to "$py_inc" "$OPT_PY_INCLUDE"
    link_to "$np_inc" "$OPT_NP_INCLUDE"
    links_ok || die "the $OPT_PY links do not resolve (see DEVELOPERS.md)"
}
link_to() {  # link_to TARGET LINKNAME (idempotent)
    local target="$1" name="$2"
    if [[ -e "$name" && ! -L "$name" ]]; then return 0; fi
    if [[ -L "$name" && "$(readlink "$name")" == "$target" ]]; then return 0; fi
    mkdir -p "$(dirname "$name")" 2>/dev/null && ln -sfn "$target" "$name" 2>/dev/null \
        || die "cannot create link $name -> $target (needs write access to /opt; run as root or create it by hand)"
    say "  linked $name -> $target"
}

if ! marrtino_distro_has_ros; then
    say "no ROS 2 in this environment (${MARRTINO_DISTRO}): vision_msgs not needed"
    rm -rf "$WS"
    VM_MODE=none
elif [[ "$(stamp_get interfaces)" == "$WANT_IFACES" && "$OLD_SCRIPT" == "$WANT_SCRIPT" &&
      "$(stamp_get vision_msgs)" == built && -d "$WS/install/lib/python$PYVER/site-packages/vision_msgs" ]]; then
    VM_MODE=built
    links_ok || ensure_opt_python_links
elif system_vision_msgs; then
    say "vision_msgs is provided by the system; not building the vendored copy"
    rm -rf "$WS"
    VM_MODE=system
else
    command -v cmake >/dev/null 2>&1 || die "cmake not found (needed to build vision_msgs); install it (apt-get install cmake)"
    command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 \
        || die "no C++ compiler found (needed to build vision_msgs); install g++"
    ensure_opt_python_links
    say "building vendored vision_msgs with colcon (about 30 s) ..."
    t=$SECONDS
    rm -rf "$WS"
    mkdir -p "$WS/src"
    # interfaces/ carries a COLCON_IGNORE (so a Humble workspace never builds our copy);
    # a copy of the package itself under ros_ws/src is found normally.
    cp -r "$REPO/interfaces/vision_msgs" "$WS/src/vision_msgs"
    (
        cd "$WS"
        # Only the venv's ROS: a sourced distro must not leak into this build.
        export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
        export LD_LIBRARY_PATH; LD_LIBRARY_PATH="$(venv_ld_path)"
        export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
        export PYTHONPATH="" COLCON_HOME="$WS/.colcon"
        export MAKEFLAGS="-j$(nproc 2>/dev/null || echo 2)"
        colcon --log-base "$WS/log" build --merge-install \
            --base-paths src --build-base build --install-base install \
            --event-handlers console_direct+ console_cohesion- status- summary- \
            --cmake-args -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release \
                         "-DPython3_EXECUTABLE=$PY" "-DPYTHON_EXECUTABLE=$PY"
    ) >>"$LOG" 2>&1 || fail_step "colcon build of interfaces/vision_msgs failed"
    [[ -d "$WS/install/lib/python$PYVER/site-packages/vision_msgs" ]] \
        || fail_step "colcon build produced no vision_msgs Python package"
    say "  vision_msgs built ($((SECONDS - t)) s) in $WS/install"
    VM_MODE=built
fi

# 4. stamp ------------------------------------------------------------------------
{
    echo "req=$WANT_REQ"
    echo "interfaces=$WANT_IFACES"
    echo "script=$WANT_SCRIPT"
    echo "vision_msgs=$VM_MODE"
    [[ $VM_MODE != system ]] || echo "pythonpath=$FOREIGN_PYTHONPATH"
} >"$STAMP"
say "environment ready: $VENV ($((SECONDS - T_ALL)) s)"

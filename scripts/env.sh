#!/usr/bin/env bash
# Run a command inside the project's environment, creating or updating it first
# (scripts/setup_env.sh; a no-op when nothing changed).
#
#   scripts/env.sh COMMAND [ARGS...]     e.g. scripts/env.sh python -m pytest
#   source scripts/env.sh                (bash) set up the current shell instead
#
# Works from any directory. Sets PATH (venv first), VIRTUAL_ENV, PYTHONPATH (vendored
# vision_msgs, if built, and the repo root), LD_LIBRARY_PATH, AMENT_PREFIX_PATH,
# RMW_IMPLEMENTATION=rmw_fastrtps_cpp and, unless already set,
# ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and FASTDDS_DEFAULT_PROFILES_FILE (FASTRTPS_... on
# jazzy) to the Fast DDS profile config/fastdds_large_frames.xml. MARRTINO_DISTRO picks the
# ROS 2 distro (kilted, the default, or jazzy; see scripts/distro.sh); the venv is
# $MARRTINO_VENV (default <repo>/.venv, or <repo>/.venv-jazzy for jazzy).

_marrtino_env() {
    local repo venv ws sp d ld="" pp spec pyver venv_name profiles_var
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)" || return 1
    # shellcheck source=distro.sh
    source "$repo/scripts/distro.sh" || return 1
    spec="$(marrtino_distro_spec)" || return 2
    unset -f marrtino_distro_spec marrtino_python_is marrtino_find_python marrtino_distro_has_ros
    read -r pyver _ venv_name profiles_var <<<"$spec"
    venv="${MARRTINO_VENV:-$repo/$venv_name}"
    case "$venv" in /*) ;; *) venv="$PWD/$venv" ;; esac

    "$repo/scripts/setup_env.sh" --quiet || return $?

    ws="$venv/ros_ws/install"
    sp="$venv/lib/python$pyver/site-packages"

    # Prepend $2 to the colon-separated variable named $1, unless it is already first.
    _marrtino_prepend() {
        local cur="${!1:-}"
        case ":$cur:" in ":$2:"*) return 0 ;; esac
        export "$1=$2${cur:+:$cur}"
    }

    export VIRTUAL_ENV="$venv"
    unset PYTHONHOME
    _marrtino_prepend PATH "$venv/bin"

    # Shared libraries of the ROS wheels (what ros_wheels_bootstrapper would otherwise add by
    # re-executing every Python process) and of the vendored vision_msgs.
    ld="$venv/lib"
    for d in "$sp"/ros_*.libs; do [[ -d "$d" ]] && ld="$ld:$d"; done
    [[ -d "$ws/lib" ]] && ld="$ws/lib:$ld"
    _marrtino_prepend LD_LIBRARY_PATH "$ld"
    export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1

    pp="$repo"
    [[ -d "$ws/lib/python$pyver/site-packages" ]] && pp="$ws/lib/python$pyver/site-packages:$pp"
    _marrtino_prepend PYTHONPATH "$pp"

    local ament="$venv"
    [[ -d "$ws/share/vision_msgs" ]] && ament="$ws:$ament"
    _marrtino_prepend AMENT_PREFIX_PATH "$ament"

    export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
    # Keep DDS discovery on this machine unless the caller asked for something else.
    export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
    # Raw 640x480 frames through a 32 MB shared-memory segment, unless the caller chose a
    # profile. The variable is the one this distro's Fast DDS reads (scripts/distro.sh):
    # FASTDDS_... for Kilted, FASTRTPS_... for Jazzy (Kilted's wheels warn when that one is set).
    if [[ -z "${FASTDDS_DEFAULT_PROFILES_FILE:-}${FASTRTPS_DEFAULT_PROFILES_FILE:-}" ]]; then
        export "$profiles_var=$repo/config/fastdds_large_frames.xml"
    fi
    unset -f _marrtino_prepend
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # Sourced: change the caller's shell, without imposing set -e/-u on it.
    if _marrtino_env; then
        unset -f _marrtino_env
        echo "[env] environment active: $VIRTUAL_ENV" >&2
    else
        unset -f _marrtino_env
        echo "[env] ERROR: environment setup failed" >&2
        return 1
    fi
else
    set -euo pipefail
    if [[ $# -eq 0 ]]; then
        echo "usage: $0 COMMAND [ARGS...]   (or: source $0)" >&2
        exit 2
    fi
    _marrtino_env || exit $?
    unset -f _marrtino_env
    exec "$@"
fi

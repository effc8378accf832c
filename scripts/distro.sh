# Sourced by setup_env.sh, env.sh and setup_peer_venv.sh (not run): which ROS 2 distro's
# environment to use, and where to find a given Python.
#
#   MARRTINO_DISTRO=kilted (default)  Python 3.11, requirements/env.txt,       venv <repo>/.venv
#   MARRTINO_DISTRO=jazzy             Python 3.12, requirements/env-jazzy.txt, venv <repo>/.venv-jazzy
#   MARRTINO_DISTRO=humble-libs       Python 3.10, requirements/env-humble-libs.txt,
#                                     venv <repo>/.venv-humble-libs: no ROS (no Humble wheels
#                                     exist), Ubuntu 22.04's library versions, for the ROS-free code
#
# The ROS wheels of each distro are built for one CPython version only. $MARRTINO_VENV still
# overrides the venv's location. The last field is the variable that names a Fast DDS XML
# profile file: Fast DDS 3 (Kilted) reads FASTDDS_..., Fast DDS 2 (Jazzy, Humble) reads
# only FASTRTPS_... (and Fast DDS 3 warns when that one is set).

# marrtino_distro_spec -> prints "PYVER REQUIREMENTS_FILE DEFAULT_VENV_NAME PROFILES_VARIABLE"
# (fails on an unknown distro)
marrtino_distro_spec() {
    case "${MARRTINO_DISTRO:-kilted}" in
        kilted) echo "3.11 requirements/env.txt .venv FASTDDS_DEFAULT_PROFILES_FILE" ;;
        jazzy) echo "3.12 requirements/env-jazzy.txt .venv-jazzy FASTRTPS_DEFAULT_PROFILES_FILE" ;;
        humble-libs) echo "3.10 requirements/env-humble-libs.txt .venv-humble-libs FASTRTPS_DEFAULT_PROFILES_FILE" ;;
        *) echo "MARRTINO_DISTRO=${MARRTINO_DISTRO} is not a known distro: use kilted, jazzy or humble-libs" >&2
           return 2 ;;
    esac
}

# marrtino_distro_has_ros -> true unless the environment has no ROS 2 (humble-libs)
marrtino_distro_has_ros() {
    [[ "${MARRTINO_DISTRO:-kilted}" != humble-libs ]]
}

# marrtino_python_is VERSION COMMAND -> true if COMMAND runs Python VERSION (e.g. 3.12)
marrtino_python_is() {
    command -v "$2" >/dev/null 2>&1 &&
        [[ "$("$2" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" == "$1" ]]
}

# marrtino_find_python VERSION -> prints a Python VERSION interpreter (fails if none):
# pythonVERSION, python3, or one of pyenv's VERSION.* installs. pyenv's shim of a version that is
# installed but not selected fails the check, so pyenv's versions are looked at directly.
marrtino_find_python() {
    local cand
    for cand in "python$1" python3 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/python"$1"; do
        if marrtino_python_is "$1" "$cand"; then
            echo "$cand"
            return 0
        fi
    done
    return 1
}

# Sourced by setup_env.sh and env.sh (not run): which ROS 2 distro's environment to use.
#
#   MARRTINO_DISTRO=kilted (default)  Python 3.11, requirements/env.txt,       venv <repo>/.venv
#   MARRTINO_DISTRO=jazzy             Python 3.12, requirements/env-jazzy.txt, venv <repo>/.venv-jazzy
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
        *) echo "MARRTINO_DISTRO=${MARRTINO_DISTRO} is not a known distro: use kilted or jazzy" >&2
           return 2 ;;
    esac
}

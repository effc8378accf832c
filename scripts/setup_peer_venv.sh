#!/usr/bin/env bash
# Build the venv of the PyPI package face_mask_detector 0.2.3, the peer that
# benchmarks/bench_pipeline.py times against ours on the same frames. Only that benchmark uses
# it; it is big (TensorFlow) and stays out of git (.gitignore).
#
#   scripts/setup_peer_venv.sh        # venv at $MARRTINO_PEER_VENV (default <repo>/.venv-peer)
#
# Python 3.11, requirements/peer.txt, then face-mask-detector==0.2.3 with --no-deps (its own
# pins, TensorFlow 2.2 and friends, have no wheels for Python 3.11). Ends by loading the
# package's model, so a venv that this script finishes works. Output of pip: <venv>/setup.log.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV="${MARRTINO_PEER_VENV:-$REPO/.venv-peer}"
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
PYVER=3.11
say() { echo "[setup_peer_venv] $*" >&2; }
die() { echo "[setup_peer_venv] ERROR: $*" >&2; exit 1; }
# shellcheck source=distro.sh
source "$REPO/scripts/distro.sh"

T0=$SECONDS
if [[ ! -x "$VENV/bin/python" ]]; then
    BASE_PY="$(marrtino_find_python "$PYVER")" || die "Python $PYVER not found"
    say "creating venv $VENV (with $BASE_PY)"
    "$BASE_PY" -m venv "$VENV" || die "python -m venv $VENV failed"
fi
marrtino_python_is "$PYVER" "$VENV/bin/python" \
    || die "$VENV is not a Python $PYVER venv; remove it (rm -rf $VENV) and run again"
LOG="$VENV/setup.log"
say "installing TensorFlow and face-mask-detector 0.2.3 (a few minutes the first time) ..."
{
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
        -r "$REPO/requirements/peer.txt" &&
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q --no-deps \
        face-mask-detector==0.2.3
} >"$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; die "pip install failed (full log: $LOG)"; }
TF_CPP_MIN_LOG_LEVEL=3 "$VENV/bin/python" -c '
import face_mask_detector
face_mask_detector.load_face_mask_detector_model()
' >>"$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; die "face_mask_detector does not load its model (full log: $LOG)"; }
say "ready: $VENV ($((SECONDS - T0)) s)"

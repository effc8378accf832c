"""The shipped face detector's boxes on the photos of a dataset, as the node would find them.

Cross-validation trains and scores many classifiers on the same photos; the detector (the
node's, fixed) gives the same boxes each time, so each photo is scanned once per process.
Every box down to :data:`SCAN_MIN_SCORE` is kept with its landmarks: average precision reads
the whole score range, and the node's own thresholds are applied by :func:`node_keeps`.
"""

import os

from ..boxes import box_side, match_boxes
from ..centerface import CenterFaceDetector
from ..exposure import DEFAULT_MIN_WHITE_LEVEL, brighten
from ..faces import (
    DEFAULT_FACE_CONFIDENCE,
    DEFAULT_LARGE_FACE_CONFIDENCE,
    DEFAULT_MIN_FACE_SIZE,
    score_needed,
)

SCAN_MIN_SCORE = 0.05   # as evaluate's AP_MIN_SCORE
MAX_DETECTIONS = 100    # per photo, highest scores first (COCO's cap)
_scanned = {}           # (real path, min_white_level) -> [(box, score, landmarks), ...]
_detector = []


def node_keeps(box, score, face_confidence=DEFAULT_FACE_CONFIDENCE,
               large_face_confidence=DEFAULT_LARGE_FACE_CONFIDENCE,
               min_face_size=DEFAULT_MIN_FACE_SIZE):
    """Whether the node, with these parameters, publishes a CenterFace box."""
    side = box_side(box)
    return side >= min_face_size and score >= score_needed(side, face_confidence,
                                                            large_face_confidence)


def scan_photos(photos, images, min_white_level=DEFAULT_MIN_WHITE_LEVEL):
    """{photo: [(box, score, landmarks (10 floats) or None), ...]} for ``photos`` (keys of
    ``images``), from the shipped CenterFace at the node's input size, on each photo as the
    node sees it (a dim one brightened).
    """
    if not _detector:
        _detector.append(CenterFaceDetector(SCAN_MIN_SCORE, 1))
    root = getattr(images, "root", "")
    out = {}
    for photo in photos:
        key = (os.path.abspath(os.path.join(root, photo)), min_white_level)
        if key not in _scanned:
            faces = _detector[0].detect(brighten(images[photo], min_white_level)[0])
            _scanned[key] = [(f.box, f.score, f.landmarks) for f in faces[:MAX_DETECTIONS]]
        out[photo] = _scanned[key]
    return out


def detector_matches(samples, images, min_score=0.1):
    """{sample: (box, landmarks)}: the shipped detector's box matched one-to-one to each
    labelled face at IoU >= 0.3 (scores >= ``min_score``); faces it misses get none.
    """
    by_image = {}
    for s in samples:
        if s.box is not None:
            by_image.setdefault(s.image, []).append(s)
    found = {}
    scans = scan_photos(sorted(by_image), images)
    for image, faces in by_image.items():
        dets = [d for d in scans[image] if d[1] >= min_score]
        for gi, di in match_boxes([f.box for f in faces], [d[0] for d in dets], 0.3).items():
            found[faces[gi]] = (dets[di][0], dets[di][2])
    return found

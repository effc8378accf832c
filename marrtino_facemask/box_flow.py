"""Move face boxes from one frame to the next with sparse optical flow (median flow).

Between two runs of the face detector, :func:`propagate_faces` follows each face: a grid of
points inside its box is tracked with pyramidal Lucas-Kanade (``cv2.calcOpticalFlowPyrLK``)
forwards and back, points whose forward-backward error is above the median are dropped, and
the box moves by the median displacement and scales by the median change of the distances
between point pairs. This is Kalal et al.'s Median Flow (2010).

The moved boxes keep sub-pixel coordinates (floats), so that a face followed through many
frames accumulates its true motion; :func:`rounded` puts a box on whole pixels when it is
handed on. :func:`follow_faces` can also move a face by a motion already measured between the
same two frames for an overlapping box, instead of measuring it again.

OpenCV has Median Flow only in its contrib ``legacy`` module, which the
``opencv-python-headless`` wheel that we pin does not include; the core trackers left
(MIL, GOTURN, Nano, Vit) are far slower or need extra model files. So the few lines below
are ours, built on OpenCV's own Lucas-Kanade.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from .boxes import iou_matrix
from .faces import Face

GRID = 10                 # GRID x GRID points per box, as in Median Flow...
# ...but no closer than this many px apart, and at least MIN_GRID x MIN_GRID: the points of a
# small face are then as far apart as its 11 px windows make worth it (under 24 px: 5x5)
MIN_SPACING = 4
MIN_GRID = 5
MIN_POINTS = 6            # fewer reliable points: the face is lost
# the face is lost when the median forward-backward error of its points exceeds this
# fraction of its box's longer side
MAX_FB_ERROR = 0.1
MIN_SCALE = 0.5          # a face cannot shrink to less than half, or grow to twice, in a frame
SEARCH_MARGIN = 16       # px around a face that its points are looked for in (at least)
# a box overlapping a followed face's box this much is that face (follow_faces' known)
REUSE_IOU = 0.5
# 4 pyramid levels of an 11 px window: faces of 60 to 90 px were followed through moves of
# up to 33 to 45 px a frame (more is a lost face, found again at the next detection)
LK_PARAMS = dict(winSize=(11, 11), maxLevel=3,
                 criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.03))


# Lucas-Kanade assumes that a point keeps its brightness from frame to frame. A camera's
# auto-exposure (or min_white_level's gain, exposure.py) can change a whole frame's
# brightness between two frames, so each face's search region is first scaled to the mean of
# the previous frame's region; a difference of up to this fraction is left alone. On the
# validation clips with the exposure changing by up to 20 % a frame, the node's default
# scheduling kept a recall at IoU 0.5 of 0.894, against 0.852 without it and 0.899 with a
# steady exposure (benchmarks/bench_detect_every.py --every bg1 --flicker 0.2; README).
BRIGHTNESS_TOLERANCE = 0.02


def match_brightness(ref, img):
    """``img`` scaled so that its mean is that of ``ref`` (the same region of the previous
    frame); ``img`` itself when they differ by at most BRIGHTNESS_TOLERANCE.
    """
    ref_mean, img_mean = float(ref.mean()), float(img.mean())
    if img_mean < 1.0 or abs(ref_mean / img_mean - 1.0) <= BRIGHTNESS_TOLERANCE:
        return img
    return cv2.convertScaleAbs(img, alpha=ref_mean / img_mean)


def to_gray(bgr):
    """The grey frame that :func:`propagate_faces` tracks on."""
    return bgr if bgr.ndim == 2 else cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


def grid_size(box):
    """Points a side of ``box``'s grid: :data:`GRID`, fewer for a small face."""
    side = max(box[2] - box[0], box[3] - box[1])
    return int(np.clip(side // MIN_SPACING, MIN_GRID, GRID))


def grid_points(box, grid=None):
    """(grid*grid, 2) float32 points evenly inside ``box`` (x0, y0, x1, y1); ``grid``
    defaults to :func:`grid_size`.
    """
    if grid is None:
        grid = grid_size(box)
    x0, y0, x1, y1 = box
    xs = np.linspace(x0, x1, grid + 2, dtype=np.float32)[1:-1]
    ys = np.linspace(y0, y1, grid + 2, dtype=np.float32)[1:-1]
    return np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)


def _median_scale(before, after):
    """How much the points spread apart: the median ratio of their distances to their median
    point, after against before. (Median Flow compares all pairs of points; against the
    median point it is O(n) instead of O(n^2) and as robust.)
    """
    d0 = np.hypot(*(before - np.median(before, axis=0)).T)
    d1 = np.hypot(*(after - np.median(after, axis=0)).T)
    ok = d0 > 1e-3
    return float(np.median(d1[ok] / d0[ok])) if ok.any() else 1.0


def _track_points(prev_gray, gray, points, roi):
    """Points (N, 2) of ``prev_gray`` followed into ``gray`` within ``roi`` (x0, y0, x1, y1):
    their new places (N, 2), whether LK followed each one both ways, and the
    forward-backward error (px). Only the region's pixels are looked at, so the cost
    follows the face's size, not the frame's.
    """
    x0, y0, x1, y1 = roi
    a = prev_gray[y0:y1, x0:x1]
    b = match_brightness(a, gray[y0:y1, x0:x1])
    local = (points - (x0, y0)).reshape(-1, 1, 2).astype(np.float32)
    fwd, st1, _ = cv2.calcOpticalFlowPyrLK(a, b, local, None, **LK_PARAMS)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, fwd, None, **LK_PARAMS)
    fb_error = np.linalg.norm(local - back, axis=2).ravel()
    ok = (st1.ravel() == 1) & (st2.ravel() == 1) & np.isfinite(fb_error)
    return fwd.reshape(-1, 2) + (x0, y0), ok, fb_error


def _search_region(box, width, height):
    """The face's box widened by its own size (at least SEARCH_MARGIN px) on every side."""
    x0, y0, x1, y1 = box
    margin = max(x1 - x0, y1 - y0, SEARCH_MARGIN)
    return (max(0, int(np.floor(x0 - margin))), max(0, int(np.floor(y0 - margin))),
            min(width, int(np.ceil(x1 + margin))), min(height, int(np.ceil(y1 + margin))))


@dataclass(frozen=True)
class Motion:
    """How a face moved from one frame to the next: the centre ``origin`` of its box moved by
    (``dx``, ``dy``) and the box scaled by ``scale`` about it.
    """

    origin: tuple
    dx: float
    dy: float
    scale: float

    def moved(self, x, y):
        """Where the point (x, y) of the first frame is in the second."""
        ox, oy = self.origin
        return ox + self.dx + self.scale * (x - ox), oy + self.dy + self.scale * (y - oy)

    def apply(self, face, width, height):
        """``face`` moved, its box clipped to the frame, or None when less than a pixel of
        it is left in the frame. The box keeps sub-pixel coordinates (floats), so that a
        face followed through many small moves neither sticks nor grows: round it with
        :func:`rounded` to hand it on. The score stays that of the last detection;
        landmarks move with the box.
        """
        cx, cy = self.moved((face.x_min + face.x_max) / 2, (face.y_min + face.y_max) / 2)
        half_w, half_h = face.width * self.scale / 2, face.height * self.scale / 2
        x0, x1 = (float(np.clip(v, 0, width)) for v in (cx - half_w, cx + half_w))
        y0, y1 = (float(np.clip(v, 0, height)) for v in (cy - half_h, cy + half_h))
        if x1 - x0 < 1 or y1 - y0 < 1:
            return None
        landmarks = face.landmarks
        if landmarks is not None:
            pts = np.asarray(landmarks, np.float64).reshape(-1, 2)
            landmarks = tuple(float(v) for v in np.column_stack(self.moved(*pts.T)).ravel())
        return Face(x0, y0, x1, y1, face.score, landmarks)


def rounded(face):
    """``face`` with its box on whole pixels, as the detectors give them (a box at least a
    pixel wide stays at least a pixel wide).
    """
    x0, y0, x1, y1 = (int(np.floor(v + 0.5)) for v in face.box)
    return Face(x0, y0, x1, y1, face.score, face.landmarks)


def face_motion(prev_gray, gray, face):
    """The :class:`Motion` of ``face`` from the frame ``prev_gray`` to the frame ``gray``
    (same size), or None when its points cannot be followed reliably (occluded, out of the
    frame, a cut).
    """
    height, width = gray.shape[:2]
    points = grid_points(face.box)
    after, ok, err = _track_points(prev_gray, gray, points,
                                   _search_region(face.box, width, height))
    if ok.sum() < MIN_POINTS:
        return None
    median_err = float(np.median(err[ok]))
    if median_err > MAX_FB_ERROR * max(face.width, face.height, 1):
        return None
    keep = ok & (err <= median_err)
    if keep.sum() < MIN_POINTS:
        return None
    dx, dy = np.median(after[keep] - points[keep], axis=0)
    scale = _median_scale(points[keep], after[keep])
    if not MIN_SCALE <= scale <= 1 / MIN_SCALE:
        return None
    origin = ((face.x_min + face.x_max) / 2, (face.y_min + face.y_max) / 2)
    return Motion(origin, float(dx), float(dy), scale)


def propagate_face(prev_gray, gray, face):
    """``face`` of the frame ``prev_gray`` moved to the frame ``gray`` (same size), with a
    sub-pixel box (:meth:`Motion.apply`), or None when it cannot be followed reliably
    (:func:`face_motion`).
    """
    motion = face_motion(prev_gray, gray, face)
    return None if motion is None else motion.apply(face, gray.shape[1], gray.shape[0])


def follow_faces(prev_gray, gray, faces, known=()):
    """The ``faces`` of ``prev_gray`` that can be followed, moved to ``gray`` (sub-pixel
    boxes, :meth:`Motion.apply`), and the motions measured: a list of (box,
    :class:`Motion`), one per face that moved.

    ``known``: (box, Motion) pairs already measured between the same two frames (for the
    faces that were followed there). A face whose box overlaps one of those boxes by
    IoU >= :data:`REUSE_IOU` is the same face: it moves by that motion, with no new optical
    flow. This is how a detection that finished a few frames late catches up at the cost of
    its new faces only.
    """
    height, width = gray.shape[:2]
    known = list(known)
    overlap = (iou_matrix([f.box for f in faces], [box for box, _ in known])
               if faces and known else None)
    moved, motions = [], []
    for i, face in enumerate(faces):
        best = int(np.argmax(overlap[i])) if overlap is not None else -1
        if best >= 0 and overlap[i, best] >= REUSE_IOU:
            motion = known[best][1]
        else:
            motion = face_motion(prev_gray, gray, face)
        after = None if motion is None else motion.apply(face, width, height)
        if after is not None:
            moved.append(after)
            motions.append((face.box, motion))
    return moved, motions


def propagate_faces(prev_gray, gray, faces):
    """The ``faces`` of ``prev_gray`` that can be followed, moved to ``gray`` (sub-pixel
    boxes); a face that cannot is dropped rather than guessed.
    """
    return follow_faces(prev_gray, gray, faces)[0]

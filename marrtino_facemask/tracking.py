"""Track ids and stable labels for the faces of a stream (ROS-free).

:class:`FaceTracker` takes each frame's classified faces (:class:`pipeline.FaceMaskResult`)
and returns them with

* a ``track_id``: a non-empty string, never reused by the tracker. A face keeps it from
  frame to frame while its box overlaps its last box (IoU >= ``min_iou``), and while it is
  missing from at most ``max_missed`` frames in a row. Boxes are assigned to tracks one to
  one (``scipy.optimize.linear_sum_assignment`` on 1 - IoU), so two faces of one frame never
  share an id;
* ``scores``: the track's class probabilities averaged over its last ``smoothing_window``
  frames (1: the frame's own probabilities);
* ``label``: the track's label, with hysteresis: it changes only once another class has led
  the averaged probabilities for ``hold_frames`` frames in a row (1: at once). ``score`` is
  the label's averaged probability. While another class is about to take over, the label's
  score can be below that class's score: ``FaceMaskResult.ranked`` still lists the label
  first.

With ``smoothing_window=1`` and ``hold_frames=1`` the labels and scores are the frame's own.

Classifying every face of every frame costs one classifier run per face per frame (about
8 ms a face on our CPU), so a frame with many faces is slow. :meth:`FaceTracker.due` says
which faces of a frame need the classifier, within a budget: every face that would start a
track, and of the others the ``budget`` whose tracks were classified longest ago. A face
that was not classified is passed to :meth:`FaceTracker.update` with empty ``scores``: it
keeps its track's averaged scores and label, and the hysteresis counts only frames with new
probabilities.
"""

import itertools
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from .boxes import iou_matrix

DEFAULT_MAX_MISSED = 5
DEFAULT_MIN_IOU = 0.2
DEFAULT_SMOOTHING_WINDOW = 5
DEFAULT_HOLD_FRAMES = 2
# faces classified again per frame, besides new ones (the node's max_classified_per_frame)
DEFAULT_CLASSIFY_BUDGET = 1


@dataclass
class Track:
    """One followed face: its id, last box, recent probabilities and label state."""

    track_id: str
    box: tuple
    history: deque
    label: str = ""
    missed: int = 0
    challenger: str = ""          # the class that leads the averages against ``label``
    challenger_frames: int = 0    # for how many frames in a row it has led
    hits: int = 0                 # frames in which the face was seen
    classified_at: int = -1       # the tracker's frame number of its last probabilities

    def averaged(self):
        names = list(self.history[-1])
        return {n: float(np.mean([h.get(n, 0.0) for h in self.history])) for n in names}


@dataclass
class FaceTracker:
    """See the module docstring. Not thread-safe: call from one thread (or under a lock)."""

    max_missed: int = DEFAULT_MAX_MISSED
    min_iou: float = DEFAULT_MIN_IOU
    smoothing_window: int = DEFAULT_SMOOTHING_WINDOW
    hold_frames: int = DEFAULT_HOLD_FRAMES
    tracks: list = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)
    _frame: int = field(default=0, repr=False)        # calls of update()
    # changes with every reset() and configure(): a due() list made before a change may
    # no longer match what update() will assign
    version: int = field(default=0, repr=False)

    def configure(self, max_missed=None, min_iou=None, smoothing_window=None,
                  hold_frames=None):
        """Change settings at run time; the tracks (and their ids) are kept."""
        self.version += 1
        if max_missed is not None:
            self.max_missed = int(max_missed)
        if min_iou is not None:
            self.min_iou = float(min_iou)
        if hold_frames is not None:
            self.hold_frames = int(hold_frames)
        if smoothing_window is not None and int(smoothing_window) != self.smoothing_window:
            self.smoothing_window = int(smoothing_window)
            for track in self.tracks:
                track.history = deque(track.history, maxlen=self.smoothing_window)

    def reset(self):
        """Forget every track (ids are still never reused)."""
        self.version += 1
        self.tracks = []

    def due(self, boxes, budget=0):
        """Indices (ascending) of the faces of this frame's ``boxes`` to classify: every one
        that would start a track, then, while fewer than ``budget`` are picked, those that
        continue the tracks classified longest ago (ties: the first box). ``budget`` 0: all.
        The tracks are not changed.
        """
        if budget <= 0:
            return list(range(len(boxes)))
        matches, new = self._assign(boxes)
        matches.sort(key=lambda m: (m[1].classified_at, m[0]))
        return sorted(new + [det for det, _ in matches[:max(0, budget - len(new))]])

    def update(self, results):
        """This frame's faces -> the same faces with track ids, averaged scores, labels.

        A result with empty ``scores`` was not classified in this frame (see :meth:`due`):
        it gets its track's scores and label. One that would start a track raises
        ValueError, since the track would have no probabilities.
        """
        self._frame += 1
        matches, new = self._assign([r.box for r in results])
        unscored = [det for det in new if not results[det].scores]
        if unscored:
            raise ValueError(f"faces {unscored} start a track but were not classified: "
                             "classify the faces that FaceTracker.due() returns")
        matched_tracks = set()
        out = [None] * len(results)
        for det, track in matches:
            matched_tracks.add(id(track))
            track.box, track.missed = results[det].box, 0
            out[det] = self._observe(track, results[det])
        for track in self.tracks:
            if id(track) not in matched_tracks:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for det in new:
            track = Track(str(next(self._ids)), results[det].box,
                          deque(maxlen=self.smoothing_window))
            self.tracks.append(track)
            out[det] = self._observe(track, results[det])
        return out

    def _assign(self, boxes):
        """(detection index, track) pairs, and the detection indices that start a track."""
        if not self.tracks or not boxes:
            return [], list(range(len(boxes)))
        iou = iou_matrix(boxes, [t.box for t in self.tracks])
        rows, cols = linear_sum_assignment(1.0 - iou)
        matches = [(r, self.tracks[c]) for r, c in zip(rows, cols)
                   if iou[r, c] >= self.min_iou]
        matched = {r for r, _ in matches}
        return matches, [i for i in range(len(boxes)) if i not in matched]

    def _observe(self, track, result):
        track.hits += 1
        if not result.scores:          # not classified in this frame: the track's state
            scores = track.averaged()
            return replace(result, track_id=track.track_id, label=track.label,
                           score=scores.get(track.label, 0.0), scores=scores)
        track.classified_at = self._frame
        track.history.append(dict(result.scores))
        scores = track.averaged()
        leader = max(scores, key=scores.get)
        if not track.label or leader == track.label:
            track.label = track.label or leader
            track.challenger, track.challenger_frames = "", 0
        else:
            if leader == track.challenger:
                track.challenger_frames += 1
            else:
                track.challenger, track.challenger_frames = leader, 1
            if track.challenger_frames >= self.hold_frames:
                track.label = leader
                track.challenger, track.challenger_frames = "", 0
        return replace(result, track_id=track.track_id, label=track.label,
                       score=scores.get(track.label, 0.0), scores=scores)

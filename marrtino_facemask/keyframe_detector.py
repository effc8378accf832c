"""Run the face detector on every n-th frame only, and follow the faces in between.

The detector is most of a frame's cost on a CPU (CenterFace at 640x480: about 30 ms of 45 on
our 2-core machine, README "Speed"). Both classes wrap any detector of :mod:`faces` with the
same ``detect(bgr)`` interface, and the classifier still runs on every frame.

* :class:`KeyframeDetector` (``detect_every`` n): the detector runs on one frame in n; on the
  frames in between the last faces are moved by optical flow (:mod:`box_flow`, about 1 ms a
  face). A face that enters the picture is found at the next detection, at most n - 1 frames
  late; a face that the flow loses is dropped until then (the node's tracker keeps its id for
  ``track_max_missed`` frames). A frame whose faces the flow all lost, or, with no face to
  follow, a cut to another picture (:func:`scene_changed`), is detected at once.
* :class:`BackgroundDetector` (``detect_in_background``): the detector runs in a thread of
  its own, on the newest frame handed to it (one in n), while every frame is answered at
  once from optical flow. When a detection finishes, its faces are moved by flow from the
  frame it ran on to the current one and replace the followed ones (reusing the motion
  already measured for the faces followed meanwhile, so only new faces cost flow again). A
  frame's answer then costs flow + classifier only; the detector keeps a second core busy.
"""

import atexit
import threading
import weakref
from collections import deque

import cv2
import numpy as np

from .box_flow import follow_faces, rounded, to_gray
from .frame_worker import FrameWorker

MAX_EVERY = 30
# With no face to follow, the flow cannot tell that the picture was cut to another scene
# (a black or garbled frame, a camera switched, a face frame after an empty one): the frames
# are compared at SCENE_SIZE instead. A cut (correlation below MIN_SCENE_CORRELATION, or a
# flat frame followed by a textured one) is detected at once, as a frame whose faces the
# flow all lost is. On skimage's pictures at 640x480 a cut gives -0.1 to 0.2; a pan of 20 px
# 0.72 (40 px: 0.49), a zoom of 10 % 0.79, a person entering an empty room 0.78, the
# exposure or sensor noise changing 1.00. A frame this flat (standard deviation in grey
# levels at SCENE_SIZE) holds no face.
SCENE_SIZE = (32, 24)
MIN_SCENE_CORRELATION = 0.5
FLAT_SCENE_STD = 2.0
# background detectors not closed yet: see _close_left_open
_OPEN = weakref.WeakSet()
DEFAULT_MAX_FACES = 64
MAX_MAX_FACES = 1000


def scene_changed(prev_gray, gray):
    """Whether ``gray`` shows another scene than ``prev_gray`` (same size): a cut, which a
    face may have come with although there was no face to follow (see SCENE_SIZE).
    """
    after = cv2.resize(gray, SCENE_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)
    after -= after.mean()
    if float(after.std()) < FLAT_SCENE_STD:
        return False                      # nothing in it, so no face either
    before = cv2.resize(prev_gray, SCENE_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)
    before -= before.mean()
    if float(before.std()) < FLAT_SCENE_STD:
        return True                       # from a flat (black, blank) frame to a picture
    correlation = float((before * after).sum()) / float(
        np.sqrt((before * before).sum() * (after * after).sum()))
    return correlation < MIN_SCENE_CORRELATION


class KeyframeDetector:
    """``detector`` on every ``every``-th frame, optical flow on the others.

    ``confidence``, ``large_confidence`` (centerface's) and ``min_face_size`` are the wrapped
    detector's (setting them here sets them there, and its ``min_score`` and min_face_size
    also filter the faces that flow moves); other attributes (``kind``,
    ``input_size``, ``backend``, ...) read through. At most ``max_faces`` faces, the best
    scored, come out of a frame, so that a picture full of faces (a crowd, a poster) bounds
    the classifier's and the flow's work. ``last_detected`` says whether the last call's
    faces came from the detector. Setting ``every`` starts a new cycle: the next frame is
    detected. :meth:`reset` may be called from another thread.
    """

    def __init__(self, detector, every=1, max_faces=DEFAULT_MAX_FACES):
        self.detector = detector
        self._state_lock = threading.Lock()
        self._generation = 0
        self.every = every
        self.max_faces = max_faces
        self.last_detected = False

    @property
    def every(self):
        return self._every

    @every.setter
    def every(self, value):
        value = int(value)
        if not 1 <= value <= MAX_EVERY:
            raise ValueError(f"detect_every {value} is out of range: use 1 to {MAX_EVERY}")
        self._every = value
        self.reset()          # a new cycle: the next frame runs the detector

    @property
    def max_faces(self):
        return self._max_faces

    @max_faces.setter
    def max_faces(self, value):
        value = int(value)
        if not 1 <= value <= MAX_MAX_FACES:
            raise ValueError(f"max_faces {value} is out of range: use 1 to {MAX_MAX_FACES}")
        self._max_faces = value

    def _best(self, faces):
        """The ``max_faces`` best-scored faces (the detectors return them best first)."""
        if len(faces) <= self._max_faces:
            return faces
        return sorted(faces, key=lambda f: f.score, reverse=True)[:self._max_faces]

    @property
    def confidence(self):
        return self.detector.confidence

    @confidence.setter
    def confidence(self, value):
        self.detector.confidence = value

    @property
    def large_confidence(self):
        return self.detector.large_confidence

    @large_confidence.setter
    def large_confidence(self, value):
        self.detector.large_confidence = value

    @property
    def min_face_size(self):
        return self.detector.min_face_size

    @min_face_size.setter
    def min_face_size(self, value):
        self.detector.min_face_size = value

    def __getattr__(self, name):
        # only called for attributes not found here: the wrapped detector's
        if name == "detector":
            raise AttributeError(name)
        return getattr(self.detector, name)

    def reset(self):
        """Forget the last frame: the next call runs the detector."""
        with self._state_lock:
            self._generation += 1
            self._gray, self._faces, self._since_detection = None, [], 0

    def _state(self):
        with self._state_lock:
            return self._generation, self._gray, self._faces, self._since_detection

    def _store(self, generation, gray, faces, since_detection):
        """Keep this frame as the one to follow from, unless :meth:`reset` came meanwhile."""
        with self._state_lock:
            if generation == self._generation:
                self._gray, self._faces = gray, faces
                self._since_detection = since_detection

    def _follow(self, prev_gray, gray, faces, known=()):
        """``faces`` moved by flow, filtered as the detector filters its own, and the
        motions measured (:func:`box_flow.follow_faces`, which reuses ``known`` ones). The
        faces are None when there were faces and the flow lost every one of them (a cut, a
        jump, the camera knocked), or when there were none and the picture changed to
        another scene (:func:`scene_changed`: after a black or garbled frame, say): then the
        frame is detected at once rather than left empty until the next detection.
        """
        if not faces:
            return (None if scene_changed(prev_gray, gray) else []), []
        moved, motions = follow_faces(prev_gray, gray, faces, known)
        if faces and not moved:
            return None, motions
        return self._best([f for f in moved
                           if f.score >= self.detector.min_score(max(f.width, f.height))
                           and max(f.width, f.height) >= max(self.min_face_size, 1)]), motions

    def detect(self, bgr):
        if self._every == 1:
            self.last_detected = True
            return self._best(self.detector.detect(bgr))
        generation, prev, faces, since = self._state()
        gray = to_gray(bgr)
        due = prev is None or prev.shape != gray.shape or since + 1 >= self._every
        if not due:
            followed, _ = self._follow(prev, gray, faces)
            due = followed is None
        if due:
            faces, since = self._best(self.detector.detect(bgr)), 0
        else:
            faces, since = followed, since + 1
        self.last_detected = due
        self._store(generation, gray, faces, since)
        return [rounded(f) for f in faces]       # followed on sub-pixel boxes, handed on whole

    def close(self):
        """Nothing to stop here (see :class:`BackgroundDetector`)."""


class BackgroundDetector(KeyframeDetector):
    """``detector`` in a thread of its own on one frame in ``every``; optical flow answers
    every frame at once. The first frame, and the first after a size change, a cut
    (:meth:`_follow`) or a reset, is detected at once (there is nothing to follow yet). A
    finished detection's faces are followed through the frames seen since the one it ran
    on, one frame at a time: a face that was already followed there moves as the flow
    measured it then, and only a new face costs optical flow. An error of the detector is
    raised by the next :meth:`detect`. Call :meth:`close` to stop the thread.
    """

    # frames kept to follow a detection up to now (those since the last detection's own, a
    # few at 30 frames/s): a detection that took longer than this many frames is dropped
    max_lag = 2 * MAX_EVERY

    def __init__(self, detector, every=1, max_faces=DEFAULT_MAX_FACES):
        self._result = None          # (frame number, faces) of a finished detection
        self._error = None
        self._busy = threading.Condition()
        self._running = 0            # detections handed over and not finished
        # (frame number, grey, motions measured from the frame before) seen since
        self._frames = deque(maxlen=self.max_lag)
        self._count = 0
        # one detection at a time, whichever thread asks (OpenCV's nets are not
        # thread-safe; ONNX Runtime's sessions are, but two runs would share the cores)
        self._detect_lock = threading.Lock()
        super().__init__(detector, every, max_faces)
        self._worker = FrameWorker(self._run_detection, self._on_error, name="face_detector")
        self._worker.start()
        _OPEN.add(self)

    def _detect_now(self, bgr):
        with self._detect_lock:
            return self._best(self.detector.detect(bgr))

    def _run_detection(self, job):
        generation, number, bgr = job
        try:
            faces = self._detect_now(bgr)
            with self._state_lock:
                if generation == self._generation:
                    self._result = (number, faces)
        finally:
            with self._busy:
                self._running -= 1
                self._busy.notify_all()

    def _on_error(self, job, exc):
        with self._state_lock:
            self._error = exc

    def reset(self):
        super().reset()
        with self._state_lock:
            self._result = None
            self._frames.clear()

    def wait_idle(self, timeout=None):
        """Wait until no detection is running or waiting; True if none is."""
        with self._busy:
            return self._busy.wait_for(lambda: self._running == 0, timeout)

    def _catch_up(self, result):
        """A finished detection's faces, followed through the frames seen since its own
        (None when that frame is no longer kept).
        """
        number, faces = result
        try:
            frames = list(self._frames)
        except RuntimeError:         # cleared by reset() from another thread meanwhile
            return None
        start = next((i for i, (n, _, _) in enumerate(frames) if n == number), None)
        if start is None:
            return None
        # any later detection ran on a later frame: the older ones are not needed any more
        for _ in range(start):
            try:
                self._frames.popleft()
            except IndexError:       # cleared by reset() from another thread meanwhile
                break
        # a face that was followed on those frames moves as it was measured to move there:
        # only the faces new to this detection need optical flow
        for (_, before, _), (_, after, known) in zip(frames[start:], frames[start + 1:]):
            faces, _ = self._follow(before, after, faces, known)
            if faces is None:
                return None
        return faces

    def detect(self, bgr):
        with self._state_lock:
            error, self._error = self._error, None
            result, self._result = self._result, None
        if error is not None:
            raise error
        generation, prev, faces, since = self._state()
        gray = to_gray(bgr)
        caught_up = None
        self._count += 1
        number = self._count
        self.last_detected = prev is None or prev.shape != gray.shape
        if not self.last_detected:
            followed, motions = self._follow(prev, gray, faces)
            self._frames.append((number, gray, motions))
            caught_up = None if result is None else self._catch_up(result)
            if caught_up is not None:             # a newer detection: it wins
                faces, self.last_detected = caught_up, True
            elif followed is None:                # every face lost: detect at once
                self.last_detected = True
            else:
                faces = followed
        if self.last_detected and caught_up is None:
            self._frames.clear()                  # detections in flight are now stale
            faces, since = self._detect_now(bgr), 0
        else:
            since += 1
            if since >= self._every:
                with self._busy:
                    self._running += 1
                if self._worker.submit((generation, number, bgr)):
                    with self._busy:              # it replaced one that had not started
                        self._running -= 1
                since = 0
        if not self._frames or self._frames[-1][0] != number:
            self._frames.append((number, gray, ()))
        self._store(generation, gray, faces, since)
        return [rounded(f) for f in faces]       # followed on sub-pixel boxes, handed on whole

    def close(self, timeout=1.0):
        """Stop the detector's thread, waiting up to ``timeout`` s for a detection in flight
        (0: not at all, for a process that ends at once).
        """
        _OPEN.discard(self)
        self._worker.stop(timeout=timeout)


@atexit.register
def _close_left_open():
    """Stop the thread of every background detector that its user did not close. A thread
    that has run ONNX Runtime and is still alive when the interpreter exits makes the process
    abort ("terminate called without an active exception", exit code 134).
    """
    for detector in list(_OPEN):
        detector.close()

"""Run the face detector on every n-th frame only, and follow the faces in between.

The detector is most of a frame's cost on a CPU (CenterFace at 640x480: about 30 ms of 45 on
our 2-core machine, README "Speed"). :class:`KeyframeDetector` wraps any detector of
:mod:`faces` with the same ``detect(bgr)`` interface. With ``every`` = n it runs the detector
on one frame in n; on the frames in between it moves the last faces by optical flow
(:mod:`box_flow`, about 1 ms), and the classifier still runs on every frame. A face that
enters the picture is found at the next detection, at most n - 1 frames late; a face that
the flow loses is dropped until then (the node's tracker keeps its id for
``track_max_missed`` frames).
"""

from .box_flow import propagate_faces, to_gray

MAX_EVERY = 30


class KeyframeDetector:
    """``detector`` on every ``every``-th frame, optical flow on the others.

    ``confidence`` and ``min_face_size`` are the wrapped detector's (setting them here sets
    them there, and they also filter the faces that flow moves); other attributes (``kind``,
    ``input_size``, ``backend``, ...) read through. ``last_detected`` says whether the last
    call ran the detector. Setting ``every`` starts a new cycle: the next frame is detected.
    """

    def __init__(self, detector, every=1):
        self.detector = detector
        self.every = every
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
    def confidence(self):
        return self.detector.confidence

    @confidence.setter
    def confidence(self, value):
        self.detector.confidence = value

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
        self._gray = None
        self._faces = []
        self._since_detection = 0

    def detect(self, bgr):
        if self._every == 1:
            self._gray = None
            self.last_detected = True
            return self.detector.detect(bgr)
        gray = to_gray(bgr)
        due = (self._gray is None or self._gray.shape != gray.shape
               or self._since_detection + 1 >= self._every)
        if due:
            faces = self.detector.detect(bgr)
            self._since_detection = 0
        else:
            faces = [f for f in propagate_faces(self._gray, gray, self._faces)
                     if f.score >= self.confidence
                     and max(f.width, f.height) >= max(self.min_face_size, 1)]
            self._since_detection += 1
        self.last_detected = due
        self._gray, self._faces = gray, faces
        return faces

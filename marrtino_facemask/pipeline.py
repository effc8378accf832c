"""Faces in, labelled faces out: detector + crop + classifier, shared by node and tools."""

from dataclasses import dataclass, field

import numpy as np

from .exposure import DEFAULT_MIN_WHITE_LEVEL, brighten, check_min_white_level


@dataclass
class FaceMaskResult:
    """One classified face. ``box`` is (x_min, y_min, x_max, y_max) in pixels.

    ``track_id`` is empty unless a :class:`tracking.FaceTracker` set it.
    """

    box: tuple
    face_score: float
    label: str
    score: float
    scores: dict = field(default_factory=dict)
    track_id: str = ""

    def ranked(self):
        """(label, probability) pairs: ``label`` first, then the others, highest first.

        For one frame's result the label is the most probable class, so this is simply
        highest first; a tracked face's label can lag behind (tracking.py, hysteresis).
        """
        others = sorted(((k, v) for k, v in self.scores.items() if k != self.label),
                        key=lambda kv: kv[1], reverse=True)
        if self.label in self.scores:
            return [(self.label, self.scores[self.label])] + others
        return others

    def to_json(self):
        return {"bbox": [int(v) for v in self.box], "label": self.label,
                "score": round(float(self.score), 6),
                "face_score": round(float(self.face_score), 6),
                "scores": {k: round(float(v), 6) for k, v in self.scores.items()}}


def results_from_probs(boxes, face_scores, probs, class_names):
    results = []
    for box, face_score, p in zip(boxes, face_scores, probs):
        best = int(np.argmax(p))
        results.append(FaceMaskResult(
            box=tuple(int(v) for v in box), face_score=float(face_score),
            label=class_names[best], score=float(p[best]),
            scores={name: float(v) for name, v in zip(class_names, p)}))
    return results


class FaceMaskPipeline:
    """Detect faces in a BGR frame, classify all their crops in one batch. A dim frame is
    brightened first (exposure.py; ``min_white_level`` 0: never).
    """

    def __init__(self, face_detector, classifier, min_white_level=DEFAULT_MIN_WHITE_LEVEL):
        self.face_detector = face_detector
        self.classifier = classifier
        self.min_white_level = check_min_white_level(min_white_level)

    def prepare(self, bgr):
        """The frame as both models see it: ``bgr`` itself, or a brightened copy when it is
        dim (:func:`exposure.brighten`).
        """
        return brighten(bgr, self.min_white_level)[0]

    def classify_boxes(self, bgr, boxes, face_scores=None, only=None, landmarks=None):
        """Classify given face boxes of one frame (in one batch). ``only``: the indices of
        the boxes to classify (None: all); the others come back with an empty label and
        empty ``scores`` (for :meth:`tracking.FaceTracker.update`). ``landmarks``: each
        box's five points or None (the classifier may align its crop on them).
        """
        if face_scores is None:
            face_scores = [1.0] * len(boxes)
        if landmarks is None:
            landmarks = [None] * len(boxes)
        picked = range(len(boxes)) if only is None else sorted(set(only))
        crops = [self.classifier.crop(bgr, boxes[i], landmarks[i]) for i in picked]
        probs = self.classifier.predict(crops)
        classified = dict(zip(picked, results_from_probs(
            [boxes[i] for i in picked], [face_scores[i] for i in picked], probs,
            self.classifier.class_names)))
        return [classified.get(i) or FaceMaskResult(tuple(int(v) for v in boxes[i]),
                                                    float(face_scores[i]), "", 0.0)
                for i in range(len(boxes))]

    def __call__(self, bgr):
        bgr = self.prepare(bgr)
        faces = self.face_detector.detect(bgr)
        return self.classify_boxes(bgr, [f.box for f in faces], [f.score for f in faces],
                                   landmarks=[f.landmarks for f in faces])

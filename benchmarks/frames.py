"""The benchmark frames: 640x480 BGR with 0, 1 and 3 faces, from scikit-image's public-domain
pictures. bench_pipeline.py and bench_node.py use the same ones.

- 0 faces: the coffee cup, resized to 640x480 (no face detector here finds one in it).
- 1 face: the astronaut at 480x480 on a grey background (her face is about 90 px).
- 3 faces: her head and shoulders three times side by side (the middle one mirrored),
  200x200 each, so faces of about 60 px, as in a corridor seen by the robot.
- a poster (:func:`frame_poster`): her face tiled 176 times, for the ``max_faces`` bound.
"""

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 480


def _astronaut():
    from skimage import data
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def frame_no_face():
    from skimage import data
    return cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (WIDTH, HEIGHT),
                      interpolation=cv2.INTER_AREA)


def frame_one_face():
    frame = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
    frame[:, 80:560] = cv2.resize(_astronaut(), (480, 480), interpolation=cv2.INTER_AREA)
    return frame


def frame_three_faces():
    head = cv2.resize(_astronaut()[0:300, 80:380], (200, 200), interpolation=cv2.INTER_AREA)
    frame = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
    for i in range(3):
        x = 13 + i * 209
        frame[140:340, x:x + 200] = cv2.flip(head, 1) if i == 1 else head
    return frame


def frame_poster():
    """A frame full of faces: the astronaut's face, 40x44 px, tiled 16 x 11 times (CenterFace
    reports 176 faces in it), as a poster or a crowd would fill the view.
    """
    face = cv2.resize(_astronaut()[30:230, 150:330], (40, 44), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(np.tile(face, (HEIGHT // 44 + 1, WIDTH // 40 + 1, 1))
                                [:HEIGHT, :WIDTH])


def bench_frames():
    """{number of faces: 640x480 BGR frame}"""
    return {0: frame_no_face(), 1: frame_one_face(), 3: frame_three_faces()}

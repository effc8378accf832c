"""A small generated face-mask dataset for tests: skimage's astronaut (public domain) face,
pasted into scenes with a drawn mask (with_mask), a mask below the nose
(mask_weared_incorrect) or none (without_mask).
"""

import os

import cv2
import numpy as np

from marrtino_facemask.labels import CLASS_NAMES

ASTRONAUT_FACE = (179, 57, 272, 178)  # res10 SSD box of the face in skimage.data.astronaut()


def astronaut_bgr():
    from skimage import data
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def face_patch(label, side, rng):
    """The astronaut's face at ``side`` px with the mask that ``label`` describes."""
    x0, y0, x1, y1 = ASTRONAUT_FACE
    face = cv2.resize(astronaut_bgr()[y0:y1, x0:x1], (side, int(side * (y1 - y0) / (x1 - x0))))
    h, w = face.shape[:2]
    # a different "person" each time: random tilt and random marks, so that no two
    # generated faces are near-duplicates of each other
    tilt = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-20, 20)), 1.0)
    face = cv2.warpAffine(face, tilt, (w, h), borderMode=cv2.BORDER_REFLECT)
    for _ in range(4):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h // 4)))
        axes = (int(rng.integers(3, w // 6)), int(rng.integers(3, h // 8)))
        cv2.ellipse(face, centre, axes, float(rng.uniform(0, 180)), 0, 360,
                    tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
    color = tuple(int(c) for c in rng.integers(150, 256, 3))
    if label == "with_mask":        # covers nose, mouth and chin
        cv2.ellipse(face, (w // 2, int(h * 0.78)), (int(w * 0.42), int(h * 0.28)), 0, 0, 360,
                    color, -1)
    elif label == "mask_weared_incorrect":  # chin only
        cv2.ellipse(face, (w // 2, int(h * 0.97)), (int(w * 0.36), int(h * 0.13)), 0, 0, 360,
                    color, -1)
    return face


def make_voc_scenes(root, n_images=24, seed=0):
    """Write ``n_images`` PNG scenes with PASCAL VOC annotations; returns the root."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    for i in range(n_images):
        height, width = 200, 320
        scene = np.zeros((height, width, 3), np.uint8)
        scene[:] = rng.integers(20, 120, 3)
        scene = cv2.add(scene, rng.integers(0, 40, (height, width, 3), dtype=np.uint8))
        objects = []
        for k in range(2):
            label = CLASS_NAMES[(i + k) % len(CLASS_NAMES)]
            face = face_patch(label, int(rng.integers(56, 80)), rng)
            h, w = face.shape[:2]
            x = int(rng.integers(5, width // 2 - w)) + k * width // 2
            y = int(rng.integers(5, height - h - 5))
            scene[y:y + h, x:x + w] = face
            objects.append((label, (x, y, x + w, y + h)))
        name = f"scene{i:03d}"
        cv2.imwrite(os.path.join(root, "images", f"{name}.png"), scene)
        xml = [f"<annotation><folder>images</folder><filename>{name}.png</filename>",
               f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"]
        for label, (x0, y0, x1, y1) in objects:
            xml.append(f"<object><name>{label}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
                       f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>")
        xml.append("</annotation>")
        with open(os.path.join(root, "annotations", f"{name}.xml"), "w") as f:
            f.write("\n".join(xml))
    return root


def make_crop_folders(root, per_class=8, seed=0):
    """Kaggle-style layout: one folder of face crops per class."""
    rng = np.random.default_rng(seed)
    for label in CLASS_NAMES:
        os.makedirs(os.path.join(root, label), exist_ok=True)
        for i in range(per_class):
            face = face_patch(label, int(rng.integers(40, 90)), rng)
            face = cv2.add(face, rng.integers(0, 30, face.shape, dtype=np.uint8))
            cv2.imwrite(os.path.join(root, label, f"{i:03d}.png"), face)
    return root


def smooth_crops(n, size=96, seed=0):
    """``n`` smooth random BGR crops (6x6 colour blocks, not pure noise, so that a classifier's
    scores differ between them).
    """
    rng = np.random.default_rng(seed)
    return [np.ascontiguousarray(np.kron(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8),
                                         np.ones((size // 6, size // 6, 1), np.uint8)))
            for _ in range(n)]

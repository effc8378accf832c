"""Draw classified faces on a frame for rviz and for the offline tools."""

import cv2

from .labels import color_for


def annotate(bgr, results, thickness=None):
    """Return a copy of ``bgr`` with a box, label and score for each result (and its track
    id, ``#id``, when it has one).
    """
    out = bgr.copy()
    height, width = out.shape[:2]
    thickness = thickness or max(1, round(min(height, width) / 320))
    font_scale = max(0.35, min(height, width) / 900)
    for r in results:
        x0, y0, x1, y1 = (int(v) for v in r.box)
        color = color_for(r.label)
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), color, thickness)
        text = f"{r.label} {r.score:.2f}"
        if getattr(r, "track_id", ""):
            text = f"#{r.track_id} {text}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        ty = y0 - 2 if y0 - th - base - 2 >= 0 else min(y1 + th + 2, height - base)
        cv2.rectangle(out, (x0, ty - th - base), (x0 + tw, ty + base // 2), color, cv2.FILLED)
        cv2.putText(out, text, (x0, ty - base // 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return out

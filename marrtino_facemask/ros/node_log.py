"""The node's own log lines: what it runs with, at start-up, and every 10 s what it did."""

from ..exposure import MAX_GAIN
from ..threads import describe_threads


def ready_line(p, clf, det, camera, outputs):
    """The start-up line: models, detector settings, input, threads, tracking, outputs.
    ``p``: the parameters; ``clf``, ``det``: the classifier and face detector; ``camera``:
    the CameraInput; ``outputs``: the resolved output topics.
    """
    details = (f" at {det.input_size} px on {det.backend} ({det.precision})"
               if getattr(det, "kind", "") == "centerface" else "")
    return (
        f"ready: model {clf.path} (classes: {', '.join(clf.class_names)}; {clf.backend} "
        f"{clf.precision}), detector {p['detector']}{details} "
        f"(face_confidence {p['face_confidence']}"
        + (f", large_face_confidence {p['large_face_confidence']}"
           if p["detector"] == "centerface" else "")
        + f", min_face_size {p['min_face_size']}, "
        f"max_faces {p['max_faces']}, detect_every {p['detect_every']}"
        f"{', in the background' if p['detect_in_background'] else ''}), "
        + (f"dim frames (white level < {p['min_white_level']}) brightened to "
           f"{p['min_white_level']} (gain <= {MAX_GAIN:g})"
           if p["min_white_level"] else "dim frames not brightened") + ", input "
        f"{camera.resolved_topic} ({camera.msg_type.__name__}, "
        f"{p['reliability']}, keep last 1, max_image_pixels {p['max_image_pixels']}"
        f"{'' if camera.enabled else ', disabled'}), threads {p['threads']} "
        f"({describe_threads()}), tracking (smoothing "
        f"{p['smoothing_window']}, label hold {p['label_hold_frames']}, classified per "
        f"frame {p['max_classified_per_frame'] or 'all'}), output " + " and ".join(outputs))


def stats_line(s, camera, min_white_level):
    """The periodic line of FrameStats.take(): rates and times, or what the node waits for
    (None while it is disabled and idle).
    """
    if s["processed"]:
        return (f"{s['processed']} frames in {s['seconds']:.1f} s ({s['processed_fps']:.1f} "
                f"fps), processing mean {s['processing_ms_mean']:.1f} ms, max "
                f"{s['processing_ms_max']:.1f} ms, {s['faces_per_frame']:.2f} faces per "
                f"frame, {s['bad']} bad frames, {s['dropped']} dropped"
                + (f", {s['brightened']} brightened as dim (min_white_level "
                   f"{min_white_level})" if s["brightened"] else ""))
    if camera.enabled:
        return (f"no frames processed in {s['seconds']:.1f} s ({s['bad']} bad frames): "
                f"waiting on {camera.resolved_topic} ({camera.publisher_count()} publishers)")
    return None

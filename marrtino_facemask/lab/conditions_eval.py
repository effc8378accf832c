"""``evaluate --conditions``: the first detector of ``--detectors`` and the classifier on the
photos as a robot's camera might see them (conditions.py), against the photos as they are.
"""

from ..exposure import BrightenedImages
from ..pipeline import FaceMaskPipeline
from . import conditions
from .detector_eval import (
    bin_recall,
    evaluate_classifier,
    evaluate_detector,
    fmt_interval,
    node_min_score,
    photos_of,
    scanning_detector,
)


def compare_conditions(args, values, spec, classifier, samples, images, headline_map):
    """The detector ``spec`` and the classifier on the photos (``images``, as they are) under
    each of ``--conditions``, then brightened as the node would (``values``: the node's
    settings): end to end as in the detector table, mAP50 minus that on the photos as they
    are (``headline_map``, paired, with a 95 % interval), and the classifier on the labelled
    boxes.
    """
    by_image = photos_of(samples)
    scan = FaceMaskPipeline(scanning_detector(values, spec), classifier, min_white_level=0)
    out = {}
    for name in conditions.parse_conditions(args.conditions):
        seen = BrightenedImages(conditions.ConditionImages(images, name, args.seed),
                                values["min_white_level"])
        labelled, _ = evaluate_classifier(classifier, samples, seen, args.min_face)
        result, _ = evaluate_detector(scan, by_image, seen, node_min_score(values, spec.kind),
                                      values["min_face_size"], args.min_face,
                                      max(args.bootstrap, 1), args.seed, headline_map)
        out[name] = dict(result, detector=spec.name, classifier_on_labelled_boxes=labelled)
        print(f"  {name}: mAP50 {result['map50']:.3f}, labelled faces >= {args.min_face} px "
              f"accuracy {labelled['accuracy']:.3f}", flush=True)
    return out


def conditions_table(m):
    """The first detector and the classifier under each camera condition, as Markdown."""
    min_face = m["min_face"]
    head = (["condition", "recall <24 px", "recall 24-48 px", "recall >=48 px", "recall all",
             "face AP50", "mAP50", "mAP50 minus as-is (95 % interval)",
             f"found faces ≥ {min_face} px: accuracy / macro recall",
             f"labelled faces ≥ {min_face} px: accuracy / macro recall"])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    headline = m["end_to_end"]
    rows = [("as is", headline, {"accuracy": m["accuracy"], "macro_recall": m["macro_recall"]})]
    rows += [(name, c, c["classifier_on_labelled_boxes"]) for name, c in m["conditions"].items()]
    for name, d, labelled in rows:
        by_size = d["recall_iou_0.3"]["by_size"]
        found = d[f"classification_of_found_faces_min_face_{min_face}"]
        diff = d.get("ci95", {}).get("map50_minus_headline") if name != "as is" else None
        recalls = [bin_recall(by_size, b) for b in ("<24", "24-48", ">=48", "all")]
        lines.append("| " + " | ".join(
            [f"`{name}`" if name != "as is" else "as is"]
            + [f"{r:.3f}" if r is not None else "-" for r in recalls]
            + [f"{d['face_ap50']:.3f}", f"**{d['map50']:.3f}**",
               (f"{diff['value']:+.3f} ({fmt_interval(diff['interval'], True)})" if diff
                else "-"),
               f"{found['accuracy']:.3f} / {found['macro_recall']:.3f}",
               f"{labelled['accuracy']:.3f} / {labelled['macro_recall']:.3f}"]) + " |")
    return "\n".join(lines)

"""ROS 2 messages <-> the ROS-free core (image_codec, pipeline results).

Only message classes are used here (no node, no graph), so this module is testable by
building messages in-process.
"""

import array
import copy

from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from ..image_codec import DEFAULT_MAX_PIXELS, bgr_to_image_fields, compressed_to_bgr, image_to_bgr


def image_msg_to_bgr(msg, max_pixels=DEFAULT_MAX_PIXELS):
    """sensor_msgs/Image -> (H, W, 3) uint8 BGR array; raises image_codec.FrameError."""
    return image_to_bgr(msg.height, msg.width, msg.encoding, msg.step, msg.data,
                        msg.is_bigendian, max_pixels)


def compressed_msg_to_bgr(msg, max_pixels=DEFAULT_MAX_PIXELS):
    """sensor_msgs/CompressedImage (jpeg/png) -> BGR array; raises image_codec.FrameError."""
    return compressed_to_bgr(msg.format, msg.data, max_pixels)


def bgr_to_image_msg(bgr, header=None):
    """A BGR array -> sensor_msgs/Image (bgr8) with a copy of ``header``."""
    height, width, encoding, step, data = bgr_to_image_fields(bgr)
    msg = Image()
    if header is not None:
        msg.header = copy.deepcopy(header)
    msg.height, msg.width, msg.encoding, msg.step = height, width, encoding, step
    msg.is_bigendian = 0
    # array.array from bytes is one memcpy; a list of ints would take ~100 ms for VGA.
    msg.data = array.array("B", data)
    return msg


def result_to_detection(result, header=None):
    """One :class:`pipeline.FaceMaskResult` -> vision_msgs/Detection2D (pixels).

    ``id`` is the result's track id (empty for an untracked result); ``results`` has one
    hypothesis per class in :meth:`FaceMaskResult.ranked` order (the label first).
    """
    x_min, y_min, x_max, y_max = (float(v) for v in result.box)
    det = Detection2D()
    if header is not None:
        det.header = copy.deepcopy(header)
    det.bbox.center.position.x = (x_min + x_max) / 2.0
    det.bbox.center.position.y = (y_min + y_max) / 2.0
    det.id = str(result.track_id)
    det.bbox.center.theta = 0.0
    det.bbox.size_x = x_max - x_min
    det.bbox.size_y = y_max - y_min
    hypotheses = []
    for label, prob in result.ranked():
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = str(label)
        hyp.hypothesis.score = float(prob)
        hypotheses.append(hyp)
    det.results = hypotheses
    return det


def results_to_detection_array(results, header=None):
    """Classified faces of one frame -> vision_msgs/Detection2DArray with the frame's header.

    One Detection2D per face; its results hold one hypothesis per class, highest score first.
    """
    out = Detection2DArray()
    if header is not None:
        out.header = copy.deepcopy(header)
    out.detections = [result_to_detection(r, header) for r in results]
    return out

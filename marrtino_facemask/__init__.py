"""marrtino_facemask: face-mask detection for the MARRtino robot (ROS 2)."""

__version__ = "0.2.0"

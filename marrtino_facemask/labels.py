"""Class names and display colours shared by the classifier, the node and the tools."""

# Alphabetical, as torchvision's ImageFolder orders the Kaggle crop folders.
CLASS_NAMES = ("mask_weared_incorrect", "with_mask", "without_mask")

# BGR colours for annotation: green = fine, red = no mask, orange = worn wrongly.
CLASS_COLORS_BGR = {
    "with_mask": (0, 180, 0),
    "without_mask": (0, 0, 230),
    "mask_weared_incorrect": (0, 140, 255),
}
UNKNOWN_COLOR_BGR = (200, 200, 200)


def color_for(label):
    return CLASS_COLORS_BGR.get(label, UNKNOWN_COLOR_BGR)

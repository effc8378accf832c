"""``python -m marrtino_facemask COMMAND ...``: the node and the offline tools."""

import importlib
import sys

COMMANDS = {
    "node": ("marrtino_facemask.node", "run the ROS 2 node facemask_detector"),
    "train": ("marrtino_facemask.train", "train the ResNet18 mask classifier"),
    "train-detector": ("marrtino_facemask.detector_train",
                       "fine-tune the CenterFace face detector on VOC face boxes"),
    "mix-detector": ("marrtino_facemask.detector_mix",
                     "average a fine-tuned CenterFace with the published one (WiSE-FT)"),
    "export": ("marrtino_facemask.export", "write a classifier checkpoint as ONNX (checked "
                                           "against torch on real face crops)"),
    "quantize": ("marrtino_facemask.quantize", "int8 copies of the detector and classifier, "
                                               "calibrated on the training split"),
    "evaluate": ("marrtino_facemask.evaluate", "evaluate a checkpoint on a dataset or saved split"),
    "detect": ("marrtino_facemask.offline", "detect and classify faces in images, folders, videos"),
    "classify": ("marrtino_facemask.offline", "classify images that are face crops"),
    "demo": ("marrtino_facemask.demo", "run the node on the bundled sample stream"),
    "reminder": ("marrtino_facemask.reminder",
                 "example behaviour: remind unmasked people (ROS 2 node mask_reminder)"),
}


def usage():
    lines = ["usage: python -m marrtino_facemask COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<15} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command '{name}'\n\n{usage()}", file=sys.stderr)
        return 2
    guard = None
    if name == "node":
        # before the heavy imports, so that a signal during start-up exits cleanly and fast
        from .signals import install
        guard = install()
    try:
        module = importlib.import_module(COMMANDS[name][0])
        entry = getattr(module, f"main_{name.replace('-', '_')}", None) or module.main
        return entry(rest)
    except BaseException:
        if guard is not None and guard.signum is not None:
            guard.exit_now(0)   # a signal interrupted the imports: a clean stop
        raise


if __name__ == "__main__":
    sys.exit(main())

"""``python -m marrtino_facemask COMMAND ...``: the node and the offline tools."""

import importlib
import sys

# The robot's nodes, the laptop tools, then the lab: (module, what it does)
COMMANDS = {
    "node": ("marrtino_facemask.ros.node", "run the ROS 2 node facemask_detector"),
    "reminder": ("marrtino_facemask.ros.reminder",
                 "example behaviour: remind unmasked people (ROS 2 node mask_reminder)"),
    "detect": ("marrtino_facemask.tools.offline",
               "detect and classify faces in images, folders, videos"),
    "classify": ("marrtino_facemask.tools.offline", "classify images that are face crops"),
    "demo": ("marrtino_facemask.tools.demo", "run the node on the bundled sample stream"),
    "train": ("marrtino_facemask.lab.train",
              "train the ResNet18 mask classifier (also k-fold cross-validation)"),
    "evaluate": ("marrtino_facemask.lab.evaluate",
                 "score a classifier and the detectors on labelled photos, or a "
                 "cross-validation run"),
    "export": ("marrtino_facemask.lab.export",
               "write a classifier checkpoint as ONNX (checked against torch)"),
    "quantize": ("marrtino_facemask.lab.quantize",
                 "int8 copies of the classifier and the detector"),
    "train-detector": ("marrtino_facemask.lab.detector_train",
                       "fine-tune the CenterFace face detector on VOC face boxes"),
    "mix-detector": ("marrtino_facemask.lab.detector_mix",
                     "average a fine-tuned CenterFace with the published one (WiSE-FT)"),
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

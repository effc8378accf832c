"""Benchmark: wall time of training the shipped model on this machine (not a test).

    ./scripts/env.sh python benchmarks/bench_train.py [--epochs N] [-- extra train args]

Runs exactly the training command of models/MODEL_CARD.md (python -m marrtino_facemask train
on ../shared/data/face_mask_scenes, into a temporary folder) and prints the wall time. With
--epochs N it runs only N epochs and projects the full run from the mean epoch time.
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = ["--epochs", "40", "--seed", "0"]  # keep equal to the model card's command


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", default=os.environ.get(
        "FACE_MASK_SCENES", os.path.join(REPO, "..", "shared", "data", "face_mask_scenes")))
    p.add_argument("--epochs", type=int, default=None, help="run only N epochs and project")
    args, extra = p.parse_known_args()
    full_epochs = int(SHIPPED[SHIPPED.index("--epochs") + 1])
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "marrtino_facemask", "train", "--data", args.data, "--out",
               out, *SHIPPED, "--no-progress", *extra]
        if args.epochs:
            cmd[cmd.index("--epochs") + 1] = str(args.epochs)
        print("running:", " ".join(cmd), flush=True)
        t = time.time()
        subprocess.run(cmd, cwd=REPO, check=True)
        wall = time.time() - t
        with open(os.path.join(out, "metrics.csv")) as f:
            epochs = [float(r["seconds"]) for r in csv.DictReader(f)]
    print(f"\nwall time {wall / 60:.1f} min for {len(epochs)} epochs "
          f"(mean {sum(epochs) / len(epochs):.1f} s/epoch, {os.cpu_count()} CPU cores)")
    if args.epochs:
        setup = wall - sum(epochs)
        print(f"projected full run ({full_epochs} epochs): "
              f"{(setup + full_epochs * sum(epochs) / len(epochs)) / 60:.1f} min")


if __name__ == "__main__":
    main()

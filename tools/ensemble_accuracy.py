"""The test accuracy of an ensemble of tools/teacher.py runs: the mean of the members' logits, as
tools/ensemble_logits.py averages them for the student, with each member's own test-time views.

    bench/.venv/bin/python tools/ensemble_accuracy.py --data data/cifar10 \\
        --exclude runs/split-s1/validation.txt runs/ls0/a94 runs/ens/s1 runs/ens/s2

Prints one JSON line: per TTA level (0 none, 1 mirror, 2 mirror + shifts) the test split's
accuracy and that of the students' validation images (`--exclude`, which no member trained on),
for each member alone and for the ensemble.
"""

import argparse
import json
import os

import numpy as np
import torch

import teacher


def member(run, classes):
    """The finished model of one tools/teacher.py run directory (`classes` outputs), and its precision."""
    args = json.load(open(os.path.join(run, "teacher.json")))["args"]
    model = teacher.Teacher(args["widths"], args["convs"], classes).to(memory_format=torch.channels_last)
    model.load_state_dict(torch.load(os.path.join(run, "teacher.pt"))["model"])
    return model, args["precision"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="tools/teacher.py --out directories")
    p.add_argument("--data", required=True)
    p.add_argument("--exclude", help="the students' validation.txt: those images are reported too")
    args = p.parse_args()
    classes, names, images, labels = teacher.cached_folder(
        os.path.join(args.data, "test"), os.path.join(args.runs[0], "test.npz"))
    splits = {"test": (images, labels)}
    if args.exclude:
        excluded = {line.strip() for line in open(args.exclude) if line.strip()}
        _, train_names, train_images, train_labels = teacher.cached_folder(
            os.path.join(args.data, "train"), os.path.join(args.runs[0], "train.npz"))
        held = np.array([name in excluded for name in train_names])
        splits["validation"] = (train_images[held], train_labels[held])
    members = [member(run, len(classes)) for run in args.runs]
    report = {"members": args.runs}
    with torch.no_grad():
        for tta in (0, 1, 2):
            for split, (x, y) in splits.items():
                logits = [teacher.logits_of(model, x, precision, tta) for model, precision in members]
                alone = [float((l.argmax(1).numpy() == y).mean()) for l in logits]
                mean = torch.stack(logits).mean(0)
                report[f"{split}Tta{tta}"] = {"ensemble": float((mean.argmax(1).numpy() == y).mean()), "members": alone}
    print(json.dumps(report))


if __name__ == "__main__":
    main()

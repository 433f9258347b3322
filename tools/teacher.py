#!/usr/bin/env python3
"""Trains the teacher for `secnn train --teacher` and writes its logits file.

The teacher is a ResNet-9 (Page's fast CIFAR-10 network) at a chosen width, in PyTorch. It never
ships: the student (the seed's SE-CNN, in Rust) learns from its softened outputs. For that the
teacher must see the very image the student sees, so this script computes its logits on
`--views` fixed crop/flip views of every training image, and the student's augmentation picks
one of those views instead of drawing a free one (see `src/distill.rs`).

    make data                                   # CIFAR-10 image folders in data/cifar10
    secnn train --data data/cifar10 --out runs/kd --validation-split 0.05 --seed 1 --max-steps 0
    bench/.venv/bin/python tools/teacher.py --data data/cifar10 \\
        --exclude runs/kd/validation.txt --out runs/teacher        # --resume continues
    secnn train --data data/cifar10 --out runs/kd --teacher runs/teacher/teacher.logits ...

`--exclude` leaves the student's validation images out of the teacher's training, so the
student's validation score stays honest. Checkpoints after every epoch; `--resume` continues.

Logits file (little-endian): one line of JSON (format, classes, views, names, teacher), then for
every image in `names` order and every view: dx i8, dy i8, flip u8, 0 u8; then for every image
and view its logits as `len(classes)` float32 values.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

# The student's input normalisation (src/data.rs MEAN/STD) and CIFAR-10's class order.
MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PAD = 4


def load_folder(root):
    """(names, uint8 images [n, 3, 32, 32], labels) of root/<class>/*, names like 'cat/0001.jpg'."""
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if sorted(CIFAR10) == classes:
        classes = CIFAR10
    names, images, labels = [], [], []
    for label, cls in enumerate(classes):
        for file in sorted(os.listdir(os.path.join(root, cls))):
            if file.startswith("."):
                continue
            with Image.open(os.path.join(root, cls, file)) as im:
                rgb = np.asarray(im.convert("RGB"))
            if rgb.shape != (32, 32, 3):
                raise SystemExit(f"{cls}/{file}: {rgb.shape[1]}x{rgb.shape[0]}, expected 32x32")
            names.append(f"{cls}/{file}")
            images.append(rgb.transpose(2, 0, 1))
            labels.append(label)
    return classes, names, np.stack(images), np.array(labels, dtype=np.int64)


def cached_folder(root, cache):
    """load_folder, kept as .npz in the run directory (decoding 50,000 JPEGs takes a while)."""
    if os.path.exists(cache):
        z = np.load(cache, allow_pickle=False)
        return list(z["classes"]), list(z["names"]), z["images"], z["labels"]
    classes, names, images, labels = load_folder(root)
    np.savez(cache, classes=classes, names=names, images=images, labels=labels)
    return classes, names, images, labels


def normalize(images):
    """uint8 [n, 3, 32, 32] -> float tensor normalised like the student's input."""
    x = torch.from_numpy(images).float().div_(255.0)
    return (x - torch.from_numpy(MEAN)[:, None, None]) / torch.from_numpy(STD)[:, None, None]


def view(images, dx, dy, flip):
    """The student's View::apply on a batch: out[y][x] = in[y+dy][x+dx] (mirrored first when
    flip, which equals in[y+dy][31-(x+dx)]), black outside the image."""
    if flip:
        images = images[:, :, :, ::-1]
    padded = np.pad(images, ((0, 0), (0, 0), (PAD, PAD), (PAD, PAD)))
    return padded[:, :, PAD + dy:PAD + dy + 32, PAD + dx:PAD + dx + 32]


def random_views(images, rng):
    out = np.empty_like(images)
    for i in range(len(images)):
        dx, dy = rng.integers(-PAD, PAD + 1, size=2)
        out[i] = view(images[i:i + 1], dx, dy, rng.random() < 0.5)[0]
    return out


def conv_bn(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(conv_bn(c, c), conv_bn(c, c))

    def forward(self, x):
        return x + self.body(x)


class ResNet9(nn.Module):
    """Page's ResNet-9 (DAWNBench), channels width·(1, 2, 4, 8); width 64 is the original."""

    def __init__(self, width, classes):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            conv_bn(3, w),
            conv_bn(w, 2 * w), nn.MaxPool2d(2), Residual(2 * w),
            conv_bn(2 * w, 4 * w), nn.MaxPool2d(2),
            conv_bn(4 * w, 8 * w), nn.MaxPool2d(2), Residual(8 * w),
            nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(8 * w, classes),
        )

    def forward(self, x):
        return self.net(x) * 0.125  # Page's output scale: steadier with a high learning rate


@torch.no_grad()
def predict(model, images, batch=500):
    model.eval()
    return torch.cat([model(normalize(images[i:i + batch]).contiguous(memory_format=torch.channels_last))
                      for i in range(0, len(images), batch)])


def train(args, model, images, labels, log):
    steps_per_epoch = len(images) // args.batch_size
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                                weight_decay=args.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, epochs=args.epochs,
                                                   steps_per_epoch=steps_per_epoch, pct_start=0.25)
    checkpoint = os.path.join(args.out, "teacher.pt")
    start = 0
    if args.resume and os.path.exists(checkpoint):
        state = torch.load(checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        start = state["epoch"]
        print(f"resuming at epoch {start + 1}/{args.epochs}", file=sys.stderr)
    elif os.path.exists(checkpoint):
        raise SystemExit(f"{checkpoint} exists: pass --resume or choose another --out")
    for epoch in range(start, args.epochs):
        rng = np.random.default_rng([args.seed, epoch])
        order = rng.permutation(len(images))
        model.train()
        began, loss_sum, correct = time.time(), 0.0, 0
        for step in range(steps_per_epoch):
            idx = order[step * args.batch_size:(step + 1) * args.batch_size]
            x = normalize(random_views(images[idx], rng)).contiguous(memory_format=torch.channels_last)
            y = torch.from_numpy(labels[idx])
            out = model(x)
            loss = F.cross_entropy(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += loss.item()
            correct += (out.argmax(1) == y).sum().item()
        seconds = time.time() - began
        record = {"epoch": epoch + 1, "loss": loss_sum / steps_per_epoch,
                  "accuracy": correct / (steps_per_epoch * args.batch_size), "seconds": round(seconds, 1)}
        print(json.dumps(record), flush=True)
        log["epochs"].append(record)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "epoch": epoch + 1}, checkpoint + ".tmp")
        os.replace(checkpoint + ".tmp", checkpoint)


def write_logits(path, model, classes, names, images, views, seed, teacher_info):
    """The logits file described in the module docstring."""
    rng = np.random.default_rng([seed, 1_000_003])
    n = len(images)
    dxdy = rng.integers(-PAD, PAD + 1, size=(n, views, 2))
    flips = rng.random((n, views)) < 0.5
    # Every image's first two views are the centred image and its mirror: what evaluation sees.
    dxdy[:, :2] = 0
    flips[:, 0], flips[:, 1] = False, True
    logits = np.empty((n, views, len(classes)), dtype=np.float32)
    for k in range(views):
        # Group images by identical view so each group runs as batches.
        keys = dxdy[:, k, 0] * 100 + dxdy[:, k, 1] * 10 + flips[:, k]
        for key in np.unique(keys):
            idx = np.nonzero(keys == key)[0]
            dx, dy, flip = dxdy[idx[0], k, 0], dxdy[idx[0], k, 1], flips[idx[0], k]
            logits[idx, k] = predict(model, np.ascontiguousarray(view(images[idx], dx, dy, flip))).numpy()
    header = {"format": "secnn-teacher-logits", "version": 1, "classes": list(classes), "views": views,
              "names": list(names), "teacher": teacher_info}
    table = np.zeros((n, views, 4), dtype=np.int8)
    table[:, :, :2] = dxdy
    table[:, :, 2] = flips
    with open(path + ".tmp", "wb") as f:
        f.write(json.dumps(header).encode() + b"\n")
        f.write(table.tobytes())
        f.write(logits.astype("<f4").tobytes())
    os.replace(path + ".tmp", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="CIFAR-10 image folders: DATA/train/<class>, DATA/test/<class>")
    parser.add_argument("--exclude", help="names (cat/0001.jpg) not to train on: the student's validation.txt")
    parser.add_argument("--out", required=True)
    parser.add_argument("--width", type=int, default=32, help="ResNet-9 base width (64 = Page's original)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.2, help="one-cycle peak, SGD Nesterov 0.9")
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--views", type=int, default=8, help="crop/flip views per image in the logits file")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    classes, names, images, labels = cached_folder(os.path.join(args.data, "train"), os.path.join(args.out, "train.npz"))
    excluded = set()
    if args.exclude:
        with open(args.exclude) as f:
            excluded = {line.strip() for line in f if line.strip()}
    keep = np.array([name not in excluded for name in names])
    print(f"{len(names)} training images, {int((~keep).sum())} excluded", file=sys.stderr)

    model = ResNet9(args.width, len(classes)).to(memory_format=torch.channels_last)
    log_path = os.path.join(args.out, "teacher.json")
    log = json.load(open(log_path)) if args.resume and os.path.exists(log_path) else {"epochs": []}
    log["args"] = vars(args)
    began = time.time()
    train(args, model, images[keep], labels[keep], log)
    log["trainSeconds"] = log.get("trainSeconds", 0) + round(time.time() - began, 1)

    test_classes, _, test_images, test_labels = cached_folder(os.path.join(args.data, "test"), os.path.join(args.out, "test.npz"))
    assert list(test_classes) == list(classes)
    test = (predict(model, test_images).argmax(1).numpy() == test_labels).mean()
    held = (predict(model, images[~keep]).argmax(1).numpy() == labels[~keep]).mean() if (~keep).any() else None
    log.update({"testAccuracy": float(test), "excludedAccuracy": None if held is None else float(held),
                "parameters": sum(p.numel() for p in model.parameters())})
    print(f"teacher: test {100 * test:.2f} %" + ("" if held is None else f", excluded images {100 * held:.2f} %"), flush=True)

    began = time.time()
    info = {"architecture": f"ResNet-9, width {args.width}", "parameters": log["parameters"],
            "epochs": args.epochs, "testAccuracy": float(test)}
    write_logits(os.path.join(args.out, "teacher.logits"), model, classes, names, images, args.views, args.seed, info)
    log["logitsSeconds"] = round(time.time() - began, 1)
    with open(log_path, "w") as f:
        json.dump(log, f, indent=2)
    print(f"logits: {os.path.join(args.out, 'teacher.logits')}")


if __name__ == "__main__":
    main()

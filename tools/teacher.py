#!/usr/bin/env python3
"""Trains the teacher for `secnn train --teacher` and writes its logits file.

The teacher is a fast CIFAR-10 network in the style of Keller Jordan's airbench (a frozen
patch-whitening first layer, three blocks of 3x3 convolutions with max pooling, BatchNorm whose
scales stay at 1, GELU, a max-pooled head scaled by 1/9), trained with Nesterov SGD in decoupled
form, a Lookahead average of the weights, alternating flips, random translation and optional
cutout (no label smoothing by default: airbench uses it, but it flattens the logits a student
learns from), and evaluated with mirror + translate test-time augmentation. It never
ships: the student (the seed's SE-CNN, in Rust) learns from its softened outputs. For that the
teacher must see the very image the student sees, so this script computes its logits on
`--views` fixed crop/flip views of every training image, and the student's augmentation picks
one of those views instead of drawing a free one (see `src/distill.rs`).

    make data                                   # CIFAR-10 image folders in data/cifar10
    secnn train --data data/cifar10 --out runs/split-s1 --validation-split 0.05 --seed 1 --max-steps 0
    bench/.venv/bin/python tools/teacher.py --data data/cifar10 \\
        --exclude runs/split-s1/validation.txt --out runs/teacher       # --resume continues
    secnn train --data data/cifar10 --out runs/kd --teacher runs/teacher/teacher.logits ...

`--exclude` leaves the student's validation images out of the teacher's training, so the
student's validation score stays honest (they are the teacher's validation images too: its
recipe is chosen on them, the test split only reported). Checkpoints after every epoch;
`--resume` continues. On CPUs with bfloat16 matrix units (Intel AMX, AVX512-BF16) the
convolutions run in bfloat16 (`--precision auto`), the weights and BatchNorm stay f32.

Logits file (little-endian): one line of JSON (format, classes, views, names, teacher), then for
every image in `names` order and every view: dx i8, dy i8, flip u8, 0 u8; then for every image
and view its logits as `len(classes)` float32 values.
"""

import argparse
import contextlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from teacher_data import PAD, cached_folder, epoch_batches, normalize, view

# ---------------------------------------------------------------------------------------------
# The network


def conv3x3(cin, cout):
    """A 3x3 convolution without bias whose first `cin` filters start as the identity."""
    conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:min(cin, cout)])
    return conv


def norm(c):
    """BatchNorm with a learnt shift and its scale fixed at 1 (eps tiny: the shift does the work)."""
    bn = nn.BatchNorm2d(c, eps=1e-12, momentum=0.4)
    bn.weight.requires_grad_(False)
    return bn


class Block(nn.Module):
    """conv -> maxpool 2 -> norm -> GELU -> conv -> norm -> GELU, and with `convs=3` one more
    conv -> norm whose output adds to the first GELU's before the last GELU."""

    def __init__(self, cin, cout, convs):
        super().__init__()
        self.convs = nn.ModuleList([conv3x3(cin, cout)] + [conv3x3(cout, cout) for _ in range(convs - 1)])
        self.norms = nn.ModuleList([norm(cout) for _ in range(convs)])

    def forward(self, x):
        x = F.gelu(self.norms[0](F.max_pool2d(self.convs[0](x), 2)))
        y = F.gelu(self.norms[1](self.convs[1](x)))
        if len(self.convs) == 2:
            return y
        return F.gelu(x + self.norms[2](self.convs[2](y)))


class Teacher(nn.Module):
    """whiten (2x2, 24 filters: 12 patch eigenvectors and their negatives) -> GELU -> three
    blocks -> max pool 3 -> linear, logits scaled by 1/9 (steadier at a high learning rate)."""

    def __init__(self, widths, convs, classes):
        super().__init__()
        self.whiten = nn.Conv2d(3, 24, 2, bias=True)
        self.whiten.weight.requires_grad_(False)
        ins = [24] + widths[:-1]
        self.blocks = nn.ModuleList([Block(i, o, convs) for i, o in zip(ins, widths)])
        self.head = nn.Linear(widths[-1], classes, bias=False)

    def forward(self, x):
        x = F.gelu(self.whiten(x))
        for block in self.blocks:
            x = block(x)
        return self.head(F.max_pool2d(x, 3).flatten(1)) / 9


@torch.no_grad()
def init_whitening(layer, x, eps=5e-4):
    """Filters that decorrelate the 2x2 patches of `x`: the covariance's eigenvectors divided by
    the root of their eigenvalues, each also negated (so GELU keeps both signs)."""
    patches = x.unfold(2, 2, 1).unfold(3, 2, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 12).double()
    values, vectors = torch.linalg.eigh(patches.T @ patches / len(patches))
    filters = (vectors.T / torch.sqrt(values + eps)[:, None]).reshape(12, 3, 2, 2).float()
    layer.weight.copy_(torch.cat([filters, -filters]))
    layer.bias.zero_()


# ---------------------------------------------------------------------------------------------
# Training


def precision_context(precision):
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def auto_precision():
    """bf16 where the CPU has bfloat16 matrix or dot-product units, else f32."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return "f32"
    return "bf16" if ("amx_bf16" in flags or "avx512_bf16" in flags) else "f32"


def make_optimizer(model, args, steps):
    """Nesterov SGD in decoupled form: `lr` is the step per 1024 examples whatever the momentum,
    `weight_decay` the decay per 1024 examples whatever the lr; BatchNorm shifts learn
    `bias_scale` times faster. The loss is summed over the batch."""
    kilo = 1024 * (1 + 1 / (1 - args.momentum))
    lr, decay = args.lr / kilo, args.weight_decay * args.batch_size / kilo
    shifts = [p for n, p in model.named_parameters() if "norms" in n and p.requires_grad]
    others = [p for n, p in model.named_parameters() if "norms" not in n and p.requires_grad]
    groups = [dict(params=shifts, lr=lr * args.bias_scale, weight_decay=decay / (lr * args.bias_scale)),
              dict(params=others, lr=lr, weight_decay=decay / lr)]
    optimizer = torch.optim.SGD(groups, momentum=args.momentum, nesterov=True)
    warm = int(steps * args.warmup)

    def factor(step):  # linear warm-up from 0.2, then linear decay to `final_lr`
        if step < warm:
            return 0.2 + 0.8 * step / warm
        return 1.0 + (args.final_lr - 1.0) * (step - warm) / max(1, steps - warm)

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Lookahead:
    """Every 5 steps the weights move to an average that trails them (decay rising as the cube
    of progress to 0.95^5), and the model restarts from that average."""

    def __init__(self, model):
        self.average = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model, decay):
        for key, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                self.average[key].lerp_(value, 1 - decay)
                value.copy_(self.average[key])


@torch.no_grad()
def logits_of(model, images, precision, tta=0, batch=1000):
    """Logits of uint8 images: tta 0 the image, 1 with its mirror, 2 also shifted a pixel up-left
    and down-right (border reflected), each weighted as airbench does."""
    model.eval()
    out = []
    for i in range(0, len(images), batch):
        x = normalize(images[i:i + batch]).contiguous(memory_format=torch.channels_last)
        with precision_context(precision):
            def mirrored(v):
                return model(v).float() if tta == 0 else 0.5 * (model(v).float() + model(v.flip(-1)).float())
            logits = mirrored(x)
            if tta >= 2:
                padded = F.pad(x, (1,) * 4, mode="reflect")
                shifted = [padded[:, :, :32, :32], padded[:, :, 2:, 2:]]
                logits = 0.5 * logits + 0.25 * sum(mirrored(v.contiguous(memory_format=torch.channels_last)) for v in shifted)
        out.append(logits)
    return torch.cat(out)


def accuracy(model, images, labels, precision, tta):
    return float((logits_of(model, images, precision, tta).argmax(1).numpy() == labels).mean())


def train(args, model, images, labels, held, log):
    """The training loop, resumable at every epoch (model, optimizer, schedule, average)."""
    x, y = normalize(images), torch.from_numpy(labels)
    steps_per_epoch = len(x) // args.batch_size
    total = math.ceil(steps_per_epoch * args.epochs)
    optimizer, schedule = make_optimizer(model, args, total)
    lookahead = Lookahead(model)
    checkpoint = os.path.join(args.out, "teacher.pt")
    start = 0
    if args.resume and os.path.exists(checkpoint):
        state = torch.load(checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        lookahead.average = state["lookahead"]
        start = state["epoch"]
        print(f"resuming at epoch {start + 1}/{math.ceil(args.epochs)}", file=sys.stderr)
    elif os.path.exists(checkpoint):
        raise SystemExit(f"{checkpoint} exists: pass --resume or choose another --out")
    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing, reduction="sum")
    step = start * steps_per_epoch
    for epoch in range(start, math.ceil(args.epochs)):
        model.whiten.bias.requires_grad_(epoch < args.whiten_bias_epochs)
        model.train()
        began, cpu_began, loss_sum, correct, seen = time.time(), time.process_time(), 0.0, 0, 0
        for batch, target in epoch_batches(x, y, epoch, args):
            with precision_context(args.precision):
                out = model(batch).float()
            loss = loss_fn(out, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step % 5 == 0 or step >= total:
                lookahead.update(model, 1.0 if step >= total else 0.95 ** 5 * (step / total) ** 3)
            loss_sum += loss.item()
            correct += (out.argmax(1) == target).sum().item()
            seen += len(target)
            if step >= total:
                break
        record = {"epoch": epoch + 1, "loss": loss_sum / seen, "accuracy": correct / seen,
                  "seconds": round(time.time() - began, 1), "cpuSeconds": round(time.process_time() - cpu_began, 1)}
        if held is not None:
            record["heldOutAccuracy"] = accuracy(model, held[0], held[1], args.precision, 0)
        print(json.dumps(record), flush=True)
        log["epochs"].append(record)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                    "lookahead": lookahead.average, "epoch": epoch + 1}, checkpoint + ".tmp")
        os.replace(checkpoint + ".tmp", checkpoint)


# ---------------------------------------------------------------------------------------------
# The logits file


def write_logits(path, model, classes, names, images, args, teacher_info):
    """The logits file described in the module docstring. With `--logits-tta` each view's logits
    average the teacher's answers on the view and on its mirror image."""
    rng = np.random.default_rng([args.views_seed, 1_000_003])
    n, views = len(images), args.views
    dxdy = rng.integers(-PAD, PAD + 1, size=(n, views, 2))
    flips = rng.random((n, views)) < 0.5
    # Every image's first two views are the centred image and its mirror: what evaluation sees.
    dxdy[:, :2] = 0
    flips[:, 0], flips[:, 1] = False, True
    logits = np.empty((n, views, len(classes)), dtype=np.float32)
    tta = 1 if args.logits_tta else 0
    for k in range(views):
        # Group images by identical view so each group runs as batches.
        keys = dxdy[:, k, 0] * 100 + dxdy[:, k, 1] * 10 + flips[:, k]
        for key in np.unique(keys):
            idx = np.nonzero(keys == key)[0]
            dx, dy, flip = dxdy[idx[0], k, 0], dxdy[idx[0], k, 1], flips[idx[0], k]
            shifted = np.ascontiguousarray(view(images[idx], dx, dy, flip))
            logits[idx, k] = logits_of(model, shifted, args.precision, tta).numpy()
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


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="CIFAR-10 image folders: DATA/train/<class>, DATA/test/<class>")
    p.add_argument("--exclude", help="names (cat/0001.jpg) not to train on: the student's validation.txt")
    p.add_argument("--out", required=True)
    p.add_argument("--widths", default="128,384,512", help="the three blocks' widths")
    p.add_argument("--convs", type=int, choices=(2, 3), default=3, help="convolutions per block (3: with a residual)")
    p.add_argument("--epochs", type=float, default=37)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--lr", type=float, default=9.0, help="step per 1024 examples (decoupled from the momentum)")
    p.add_argument("--momentum", type=float, default=0.85)
    p.add_argument("--weight-decay", type=float, default=0.012, help="decay per 1024 examples (decoupled from the lr)")
    p.add_argument("--bias-scale", type=float, default=64.0, help="lr multiplier of the BatchNorm shifts")
    p.add_argument("--warmup", type=float, default=0.1, help="share of the steps warming up")
    p.add_argument("--final-lr", type=float, default=0.0, help="the lr factor at the last step")
    p.add_argument("--label-smoothing", type=float, default=0.0,
                   help="0 for a teacher: smoothing flattens the wrong classes' logits, which are what distillation passes on (BENCHMARKS.md)")
    p.add_argument("--whiten-bias-epochs", type=int, default=3)
    p.add_argument("--translate", type=int, default=4, help="random shift in pixels, border reflected")
    p.add_argument("--cutout", type=int, default=12, help="side of the square cut out of each image (0: none)")
    p.add_argument("--tta", type=int, choices=(0, 1, 2), default=2, help="test-time views reported: 0 none, 1 mirror, 2 mirror + shifts")
    p.add_argument("--views", type=int, default=8, help="crop/flip views per image in the logits file")
    p.add_argument("--logits-tta", action="store_true", help="each view's logits average the view's and its mirror's")
    p.add_argument("--logits-file", default="teacher.logits", help="name of the logits file in --out (a finished run with "
                   "--resume only writes it: e.g. a second file with --logits-tta)")
    p.add_argument("--precision", choices=("auto", "bf16", "f32"), default="auto")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--views-seed", type=int, default=0, help="seed of the logits file's crop/flip views: teachers "
                   "trained with other --seed values keep the same views, so tools/ensemble_logits.py can average them")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--skip-logits", action="store_true", help="train and report only (recipe trials)")
    args = p.parse_args()
    args.widths = [int(w) for w in args.widths.split(",")]
    if len(args.widths) != 3:
        p.error("--widths takes three numbers")
    if args.precision == "auto":
        args.precision = auto_precision()
    return args


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    classes, names, images, labels = cached_folder(os.path.join(args.data, "train"), os.path.join(args.out, "train.npz"))
    excluded = set()
    if args.exclude:
        with open(args.exclude) as f:
            excluded = {line.strip() for line in f if line.strip()}
    keep = np.array([name not in excluded for name in names])
    held = (images[~keep], labels[~keep]) if (~keep).any() else None
    print(f"{len(names)} training images, {int((~keep).sum())} excluded; {args.precision}", file=sys.stderr)

    model = Teacher(args.widths, args.convs, len(classes)).to(memory_format=torch.channels_last)
    init_whitening(model.whiten, normalize(images[keep][:5000]))
    log_path = os.path.join(args.out, "teacher.json")
    log = json.load(open(log_path)) if args.resume and os.path.exists(log_path) else {"epochs": []}
    log["args"] = vars(args)
    began = time.time()
    train(args, model, images[keep], labels[keep], held, log)
    log["trainSeconds"] = round(sum(e["seconds"] for e in log["epochs"]), 1)
    log["trainCpuSeconds"] = round(sum(e.get("cpuSeconds", 0) for e in log["epochs"]), 1)
    log["parameters"] = sum(p.numel() for p in model.parameters())

    test_classes, _, test_images, test_labels = cached_folder(os.path.join(args.data, "test"), os.path.join(args.out, "test.npz"))
    assert list(test_classes) == list(classes)
    for tta in sorted({0, 1, args.tta}):
        log[f"testAccuracyTta{tta}"] = accuracy(model, test_images, test_labels, args.precision, tta)
        if held is not None:
            log[f"heldOutAccuracyTta{tta}"] = accuracy(model, held[0], held[1], args.precision, tta)
    log["testAccuracy"] = log[f"testAccuracyTta{args.tta}"]
    print("teacher: " + ", ".join(f"{k} {100 * v:.2f} %" for k, v in log.items() if "Accuracy" in k), flush=True)
    with open(log_path, "w") as f:
        json.dump(log, f, indent=2)
    if args.skip_logits:
        return

    began = time.time()
    info = {"architecture": f"airbench-style, widths {args.widths}, {args.convs} convs a block",
            "parameters": log["parameters"], "epochs": args.epochs, "testAccuracy": log["testAccuracy"],
            "logitsTta": bool(args.logits_tta)}
    path = os.path.join(args.out, args.logits_file)
    write_logits(path, model, classes, names, images, args, info)
    log[f"logitsSeconds:{args.logits_file}"] = round(time.time() - began, 1)
    with open(log_path, "w") as f:
        json.dump(log, f, indent=2)
    print(f"logits: {path}")


if __name__ == "__main__":
    main()

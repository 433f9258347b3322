"""tools/teacher.py's data: CIFAR-10 image folders as uint8 arrays (cached as .npz), the student's
input normalisation and crop/flip views, and the teacher's training augmentation (alternating
flips, reflected translation, cutout)."""

import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# The student's input normalisation (src/data/image.rs) and CIFAR-10's class order.
MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2023, 0.1994, 0.2010], dtype=np.float32)
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# The student's crop/flip views shift by up to this many pixels, black outside the image.
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
    """uint8 [n, 3, 32, 32] (numpy or tensor) -> float tensor normalised like the student's input."""
    x = torch.as_tensor(images).float().div_(255.0)
    return (x - torch.from_numpy(MEAN)[:, None, None]) / torch.from_numpy(STD)[:, None, None]


def view(images, dx, dy, flip):
    """The student's View::apply on a batch: out[y][x] = in[y+dy][x+dx] (mirrored first when
    flip, which equals in[y+dy][31-(x+dx)]), black outside the image."""
    if flip:
        images = images[:, :, :, ::-1]
    padded = np.pad(images, ((0, 0), (0, 0), (PAD, PAD), (PAD, PAD)))
    return padded[:, :, PAD + dy:PAD + dy + 32, PAD + dx:PAD + dx + 32]


def translate(x, shift, generator):
    """Each image moved by up to `shift` pixels in x and y, the border reflected: two passes
    (rows, then columns), one masked copy per offset."""
    if shift == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (shift,) * 4, mode="reflect")
    offsets = torch.randint(0, 2 * shift + 1, (2, n), generator=generator)
    rows = torch.empty(x.shape[:2] + (h, w + 2 * shift), dtype=x.dtype)
    for s in range(2 * shift + 1):
        mask = offsets[0] == s
        rows[mask] = padded[mask, :, s:s + h, :]
    out = torch.empty_like(x)
    for s in range(2 * shift + 1):
        mask = offsets[1] == s
        out[mask] = rows[mask, :, :, s:s + w]
    return out


def cutout(x, size, generator):
    """A `size`-pixel square of each image set to 0 (the mean colour, after normalisation)."""
    if size == 0:
        return x
    n, _, h, w = x.shape
    top = torch.randint(0, h - size + 1, (n, 1, 1, 1), generator=generator)
    left = torch.randint(0, w - size + 1, (n, 1, 1, 1), generator=generator)
    ys = torch.arange(h).view(1, 1, h, 1)
    xs = torch.arange(w).view(1, 1, 1, w)
    inside = (ys >= top) & (ys < top + size) & (xs >= left) & (xs < left + size)
    return x.masked_fill(inside, 0.0)


def epoch_batches(x, labels, epoch, args):
    """One epoch's shuffled, augmented batches of the normalised images `x`. Flips alternate:
    a fixed random half is mirrored in even epochs, the other half in odd ones, so every image
    is seen both ways every two epochs."""
    generator = torch.Generator().manual_seed(args.seed * 1_000_003 + epoch)
    base = torch.Generator().manual_seed(args.seed)
    flipped = (torch.rand(len(x), generator=base) < 0.5) ^ bool(epoch % 2)
    order = torch.randperm(len(x), generator=generator)
    for start in range(0, len(x) - args.batch_size + 1, args.batch_size):
        idx = order[start:start + args.batch_size]
        batch = x[idx]
        batch = torch.where(flipped[idx].view(-1, 1, 1, 1), batch.flip(-1), batch)
        batch = cutout(translate(batch, args.translate, generator), args.cutout, generator)
        yield batch.contiguous(memory_format=torch.channels_last), labels[idx]

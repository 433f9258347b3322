"""Checks a `secnn export --format safetensors` file in real PyTorch: it must load, strictly,
into the seed's own CNN class (`model.load_state_dict(safetensors.torch.load_file(path))`) and
give the logits secnn computed for the same inputs (`secnn export --logits logits.json`).

    secnn export [--weights model.bpk] -o model.safetensors --logits logits.json
    bench/.venv/bin/python tools/check_pytorch_export.py model.safetensors logits.json
"""
import json
import os
import sys

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"))
from make_pytorch_fixture import CNN  # noqa: E402 (the seed's class, as its tutorial writes it)

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
TOLERANCE = 1e-4  # largest |difference| allowed between the two frameworks' logits


def fixed_test_patterns():
    """The same four 32x32 images as `secnn::data::fixed_test_patterns()`, as 0-255 values."""
    def circle(c, y, x):
        return (250, 180, 20)[c] if (x - 16) ** 2 + (y - 16) ** 2 < 100 else (20, 90, 200)[c]
    patterns = [
        lambda c, y, x: (x * 8 + y * 2 + c * 40) % 256,
        lambda c, y, x: 220 - c * 60 if (x // 4) % 2 == 0 else 30 + c * 50,
        circle,
        lambda c, y, x: ((x * 37 + y * 91 + c * 53) * 2_654_435_761 >> 7) & 0xFF,
    ]
    images = torch.tensor([[[[f(c, y, x) for x in range(32)] for y in range(32)] for c in range(3)] for f in patterns],
                          dtype=torch.float32)
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return (images / 255.0 - mean) / std


def main(weights_path, logits_path):
    with safe_open(weights_path, framework="pt") as file:
        classes = json.loads(file.metadata()["classes"])
    model = CNN()
    model.fc2 = nn.Linear(512, len(classes))  # the seed's head, sized for the file's classes
    model.load_state_dict(load_file(weights_path))  # strict: every key and shape must match
    model.eval()
    with torch.no_grad():
        logits = model(fixed_test_patterns())
    expected = json.load(open(logits_path))
    secnn_logits = torch.tensor(expected["logits"]).view(*expected["shape"])
    difference = (logits - secnn_logits).abs().max().item()
    print(f"{weights_path}: {len(classes)} classes ({', '.join(classes)}); loaded strictly into the seed's CNN; "
          f"max |PyTorch - secnn| logit difference {difference:.2e} (tolerance {TOLERANCE:g})")
    if difference > TOLERANCE:
        sys.exit("FAILED: the logits differ")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])

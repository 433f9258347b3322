"""Checks a `secnn export --format safetensors` file in real PyTorch: it must load, strictly,
into the seed's own CNN class, or for another member of the family into the seed's class with
its constants made arguments (`tests/fixtures/make_family_variants.py`: the widths, the SE
reduction, the hidden width, the classes and the input size, read from the file's shapes), and
give the logits secnn computed for the same inputs (`secnn export --logits logits.json`).

    secnn export [--weights model.bpk] -o model.safetensors --logits logits.json
    bench/.venv/bin/python tools/check_pytorch_export.py model.safetensors logits.json
"""
import json
import os
import re
import sys
import warnings

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"))
from fixed_patterns import fixed_test_patterns  # noqa: E402 (tools/fixed_patterns.py)
from make_family_variants import CNN as MemberCNN  # noqa: E402 (the seed's class, its constants as arguments)
from make_pytorch_fixture import CNN  # noqa: E402 (the seed's class, as its tutorial writes it)

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
TOLERANCE = 1e-4  # largest |difference| allowed between the two frameworks' logits
SEED = {"widths": [32, 64, 128], "reduction": 16, "hidden": 512, "size": 32}


def architecture(state):
    """The member a state_dict holds, from its shapes: widths, a reduction giving every block's
    SE bottleneck as PyTorch's c // r, hidden width, classes and input size (from fc1's inputs)."""
    blocks = len([k for k in state if re.fullmatch(r"conv\d+\.weight", k)])
    widths = [state[f"conv{i}.weight"].shape[0] for i in range(1, blocks + 1)]
    bottlenecks = [state[f"ca{i}.fc.0.weight"].shape[0] for i in range(1, blocks + 1)]
    # The largest ratio that gives them (the seed's 16, where 15 would too).
    reduction = next(r for r in range(max(widths) + 1, 0, -1) if all(c // r == b for c, b in zip(widths, bottlenecks)))
    hidden, flat = state["fc1.weight"].shape
    side = round((flat / widths[-1]) ** 0.5)
    return {"widths": widths, "reduction": reduction, "hidden": hidden, "size": side << blocks}


def load(path, classes):
    """The file's model in PyTorch, loaded strictly (every key and shape must match)."""
    state = load_file(path)
    member = architecture(state)
    if member == SEED:
        model = CNN()
        model.fc2 = nn.Linear(512, classes)  # the seed's head, sized for the file's classes
    else:
        # A block narrower than the reduction has PyTorch's Linear(c, 0), whose init warns.
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
        model = MemberCNN(member["widths"], member["reduction"], member["hidden"], classes, member["size"])
    model.load_state_dict(state)
    return model.eval(), member


def main(weights_path, logits_path):
    with safe_open(weights_path, framework="pt") as file:
        classes = json.loads(file.metadata()["classes"])
    model, member = load(weights_path, len(classes))
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    images = (torch.from_numpy(fixed_test_patterns(member["size"])) / 255.0 - mean) / std
    with torch.no_grad():
        logits = model(images)
    expected = json.load(open(logits_path))
    secnn_logits = torch.tensor(expected["logits"]).view(*expected["shape"])
    difference = (logits - secnn_logits).abs().max().item()
    shown = ", ".join(classes[:10]) + (f", … ({len(classes) - 10} more)" if len(classes) > 10 else "")
    kind = "the seed's CNN" if member == SEED else f"the seed's CNN edited to {member}"
    print(f"{weights_path}: {len(classes)} classes ({shown}); loaded strictly into {kind}; "
          f"max |PyTorch - secnn| logit difference {difference:.2e} (tolerance {TOLERANCE:g})")
    if difference > TOLERANCE:
        sys.exit("FAILED: the logits differ")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])

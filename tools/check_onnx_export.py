"""Checks a `secnn export --format onnx` file where models are deployed: ONNX's own checker
(full check, shape inference included) must accept it, and ONNX Runtime (CPU) must give the
logits and every block's SE weights (`se1` … `seN`) that secnn computed for the same four fixed
test images (`secnn export --logits logits.json --se se.json`), within 1e-4.

    secnn export --format onnx [--weights model.bpk] -o model.onnx --logits logits.json --se se.json
    bench/.venv/bin/python tools/check_onnx_export.py model.onnx --secnn logits.json se.json

With `--pytorch model.safetensors` instead, the reference is the seed's CNN class edited to the
member the file holds (any number of blocks, widths, SE bottlenecks, input size), in PyTorch:
how secnn-onnx's own tests check every shape of the family.

The input rule (size, mean, std) is read from the file's metadata, so a wrong rule there fails
the check too. Exit status 0: passed; 1: failed.
"""
import json
import re
import sys
import warnings

import numpy as np
import onnx
import onnxruntime

from fixed_patterns import fixed_test_patterns  # tools/fixed_patterns.py, beside this script

TOLERANCE = 1e-4  # largest |difference| allowed between ONNX Runtime and the reference


def read_model(path):
    """The model, checked by ONNX's checker, and its metadata (JSON values decoded)."""
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    metadata = {p.key: p.value for p in model.metadata_props}
    for key in ("classes", "mean", "std"):
        metadata[key] = json.loads(metadata[key])
    metadata["input_size"] = int(metadata["input_size"])
    return model, metadata


def run_onnxruntime(path, images):
    """Every output of the graph, by name, on the CPU execution provider."""
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(names, {"image": images})))


def secnn_reference(logits_path, se_path):
    """What `secnn export --logits --se` wrote: the logits and each block's SE weights."""
    logits = json.load(open(logits_path))
    reference = {"logits": np.array(logits["logits"], dtype=np.float32).reshape(logits["shape"])}
    for i, block in enumerate(json.load(open(se_path))["blocks"], start=1):
        reference[f"se{i}"] = np.array(block["weights"], dtype=np.float32).reshape(block["shape"])
    return reference


def pytorch_reference(safetensors_path, images):
    """The seed's CNN edited to the file's member, in PyTorch: its logits and SE weights."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from safetensors.torch import load_file

    # A block without an SE bottleneck is PyTorch's Linear(c, 0), whose init warns that it does nothing.
    warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
    state = {k: v for k, v in load_file(safetensors_path).items() if not k.endswith("num_batches_tracked")}
    blocks = len([k for k in state if re.fullmatch(r"conv\d+\.weight", k)])

    class Member(nn.Module):
        def __init__(self):
            super().__init__()
            for i in range(1, blocks + 1):
                out, inputs = state[f"conv{i}.weight"].shape[:2]
                bottleneck = state[f"ca{i}.fc.0.weight"].shape[0]
                setattr(self, f"conv{i}", nn.Conv2d(inputs, out, 3, padding=1))
                setattr(self, f"bn{i}", nn.BatchNorm2d(out))
                fc = nn.Sequential(nn.Linear(out, bottleneck, bias=False), nn.ReLU(),
                                   nn.Linear(bottleneck, out, bias=False), nn.Sigmoid())
                setattr(self, f"ca{i}", nn.Module())
                getattr(self, f"ca{i}").fc = fc
            self.fc1 = nn.Linear(*reversed(state["fc1.weight"].shape))
            self.fc2 = nn.Linear(*reversed(state["fc2.weight"].shape))

        def forward(self, x):
            se = []
            for i in range(1, blocks + 1):
                x = F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
                se.append(getattr(self, f"ca{i}").fc(x.mean(dim=(2, 3))))
                x = F.max_pool2d(x * se[-1][:, :, None, None], 2)
            return self.fc2(F.relu(self.fc1(x.flatten(1)))), se

    model = Member()
    model.load_state_dict(state)  # strict: every key and shape must match
    model.eval()
    with torch.no_grad():
        logits, se = model(torch.from_numpy(images))
    return {"logits": logits.numpy(), **{f"se{i}": w.numpy() for i, w in enumerate(se, start=1)}}


def compare(path, outputs, reference, against):
    """Prints the max |difference| of every output; True when all are within TOLERANCE."""
    names = ["logits"] + [f"se{i}" for i in range(1, len(outputs))]
    if sorted(outputs) != sorted(names) or sorted(reference) != sorted(names):
        print(f"FAILED: outputs {sorted(outputs)}, reference {sorted(reference)}, expected {names}")
        return False
    differences = {name: float(np.abs(outputs[name] - reference[name]).max()) for name in names}
    worst = max(differences.values())
    details = ", ".join(f"{name} {d:.1e}" for name, d in differences.items())
    print(f"{path}: max |onnxruntime - {against}| difference {worst:.2e} (tolerance {TOLERANCE:g}; {details})")
    return worst <= TOLERANCE


def main(argv):
    if len(argv) < 3 or argv[1] not in ("--secnn", "--pytorch") or len(argv) != {"--secnn": 4, "--pytorch": 3}[argv[1]]:
        sys.exit(__doc__)
    path = argv[0]
    model, metadata = read_model(path)
    size, mean, std = metadata["input_size"], metadata["mean"], metadata["std"]
    images = (fixed_test_patterns(size) / 255.0 - np.array(mean, np.float32).reshape(1, 3, 1, 1)) \
        / np.array(std, np.float32).reshape(1, 3, 1, 1)
    images = images.astype(np.float32)
    print(f"{path}: onnx.checker (full check) passed; opset {model.opset_import[0].version}, IR {model.ir_version}; "
          f"{metadata['name']!r}, {len(metadata['classes'])} classes, input [N, 3, {size}, {size}], "
          f"mean {mean}, std {std}; onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__}")
    outputs = run_onnxruntime(path, images)
    if argv[1] == "--secnn":
        reference, against = secnn_reference(argv[2], argv[3]), "secnn"
    else:
        reference, against = pytorch_reference(argv[2], images), "PyTorch"
    if not compare(path, outputs, reference, against):
        sys.exit("FAILED: the outputs differ")
    print("passed")


if __name__ == "__main__":
    main(sys.argv[1:])

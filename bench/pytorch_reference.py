#!/usr/bin/env python3
"""PyTorch reference timings for the seed SE-CNN (the exact class in
tests/fixtures/make_pytorch_fixture.py), to compare with `secnn` on the same machine.

    python3 bench/pytorch_reference.py --device cpu --threads 2 --json out.json
    python3 bench/pytorch_reference.py --device cuda

Measures, on random data (the numbers do not depend on pixel values):
  - training images/s: Adam 1e-3 + cross-entropy, model.train(), batch --train-batch;
  - batch-1 inference latency (ms) and batch-256 inference images/s, model.eval(), no_grad.
Each figure is the median of --runs runs after a warm-up run.
"""

import argparse
import json
import os
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
except ImportError:  # make bench reports the skip instead of failing
    print("SKIPPED: torch is not installed (pip install torch); no PyTorch ratio", file=sys.stderr)
    sys.exit(3)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
from make_pytorch_fixture import CNN  # noqa: E402  (the seed's exact model class)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_training(model, device, batch, steps):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    model.train()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        loss.item()  # read the loss every step, as secnn's loop does
    sync(device)
    return batch * steps / (time.perf_counter() - start)


@torch.no_grad()
def time_inference(model, device, batch, repeats):
    model.eval()
    x = torch.randn(batch, 3, 32, 32, device=device)
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        model(x).cpu()  # results back on the host, as a caller needs them
    sync(device)
    return (time.perf_counter() - start) / repeats


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-batch", type=int, default=64)
    parser.add_argument("--train-steps", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = CNN().to(device)

    results = {"torch": torch.__version__, "device": args.device, "threads": args.threads}
    if device.type == "cuda":
        results["card"] = torch.cuda.get_device_name(0)
    # one warm-up run of each, then --runs measured runs
    time_training(model, device, args.train_batch, 3)
    train = [time_training(model, device, args.train_batch, args.train_steps) for _ in range(args.runs)]
    time_inference(model, device, 1, 10)
    latency = [time_inference(model, device, 1, 50) * 1e3 for _ in range(args.runs)]
    time_inference(model, device, 256, 2)
    big = [256 / time_inference(model, device, 256, 5) for _ in range(args.runs)]

    results.update({
        "train_images_per_s": statistics.median(train),
        "train_batch": args.train_batch,
        "infer_batch1_ms": statistics.median(latency),
        "infer_batch256_images_per_s": statistics.median(big),
        "runs": args.runs,
    })
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""`make bench` (native part): secnn's flex backend against PyTorch on this machine's CPU,
same model, same batch sizes, medians of several runs, same-run ratios. Rewrites the table
between the `native-cpu` markers in BENCHMARKS.md and keeps the raw JSON in bench/results-cpu/.

    python3 bench/native.py --secnn PATH/TO/secnn [--runs 5]
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_json(command):
    print("$", " ".join(command), file=sys.stderr)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return None, result.stderr.strip().splitlines()[-1:] or ["failed"]
    return json.loads(result.stdout[result.stdout.index("{"):]), None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--secnn", required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    out = os.path.join(HERE, "results-cpu")
    os.makedirs(out, exist_ok=True)

    secnn, error = run_json([args.secnn, "bench", "--backend", "flex", "--train-batch", "64", "--runs", str(args.runs)])
    if secnn is None:
        sys.exit(f"secnn bench failed: {error}")
    torch, torch_error = run_json([sys.executable, os.path.join(HERE, "pytorch_reference.py"), "--device", "cpu",
                                   "--threads", "2", "--train-batch", "64", "--runs", str(args.runs)])
    for name, data in (("secnn-flex", secnn), ("pytorch-cpu", torch)):
        if data:
            with open(os.path.join(out, f"{name}.json"), "w") as f:
                json.dump(data, f, indent=2)

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [
        f"Machine: {cpu}, {os.cpu_count()} cores. Command: `make bench` (runs `bench/native.py`).",
        f"Medians of {args.runs} runs after a warm-up run; ratios from the same run.",
        "",
        "| measure | secnn flex | PyTorch CPU (2 threads) | secnn / PyTorch |",
        "|---|---|---|---|",
    ]
    rows = [
        ("training, batch 64 (images/s, higher is better)", "train_images_per_s", "{:,.0f}", lambda s, t: s / t),
        ("inference batch 1 (ms, lower is better)", "infer_batch1_ms", "{:.2f}", lambda s, t: s / t),
        ("inference batch 256 (images/s)", "infer_batch256_images_per_s", "{:,.0f}", lambda s, t: s / t),
    ]
    for label, key, fmt, ratio in rows:
        ours = fmt.format(secnn[key])
        if torch:
            theirs = fmt.format(torch[key])
            lines.append(f"| {label} | {ours} | {theirs} | {ratio(secnn[key], torch[key]):.2f}× |")
        else:
            lines.append(f"| {label} | {ours} | skipped | – |")
    if not torch:
        lines.append("")
        lines.append(f"PyTorch ratio skipped: {torch_error[0] if torch_error else 'torch unavailable'}")
    table = "\n".join(lines)
    print(table)

    path = os.path.join(ROOT, "BENCHMARKS.md")
    with open(path) as f:
        text = f.read()
    block = f"<!-- native-cpu:start -->\n{table}\n<!-- native-cpu:end -->"
    text = re.sub(r"<!-- native-cpu:start -->.*?<!-- native-cpu:end -->", lambda _: block, text, flags=re.S)
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()

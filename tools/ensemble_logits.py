"""Averages several teachers' logits files (tools/teacher.py) into one, for `secnn train --teacher`.

An ensemble of teachers is a stronger teacher at no extra cost to the student: its logits are the
members' mean on the same crop/flip views. The members must describe the same images, classes
and views, which tools/teacher.py gives teachers trained with different `--seed`s as long as
their `--views-seed` is the same (0 by default). Anything else is refused, not guessed.

    python tools/ensemble_logits.py --out runs/ens/teacher.logits runs/ls0/a94/teacher.logits runs/ens/s1/teacher.logits

`--centre-views K` makes each image's last K views copies of its first two (the image unshifted
and its mirror, what evaluation sees), so that the student, which draws a view at random, trains
on the unshifted image more often.

Standard library only (tests run it with the system's python3); the file format is in
tools/teacher.py's docstring.
"""

import argparse
import array
import json
import os
import sys


def read_logits(path):
    """(header, view table bytes, logits as one flat float array) of one logits file."""
    with open(path, "rb") as f:
        try:
            header = json.loads(f.readline())
        except ValueError:
            header = {}
        if header.get("format") != "secnn-teacher-logits" or header.get("version") != 1:
            sys.exit(f"{path}: not a version-1 secnn-teacher-logits file")
        n, views, classes = len(header["names"]), header["views"], len(header["classes"])
        table = f.read(n * views * 4)
        body = f.read()
    if len(table) != n * views * 4 or len(body) != n * views * classes * 4:
        sys.exit(f"{path}: {n} images x {views} views x {classes} classes expected, the file is shorter or longer")
    logits = array.array("f", body)
    if sys.byteorder == "big":  # the file is little-endian
        logits.byteswap()
    return header, table, logits


def centre_views(table, logits, header, count):
    """The view table with each image's last `count` views made copies of its first two
    (alternately), and `logits` changed to match in place."""
    n, views, classes = len(header["names"]), header["views"], len(header["classes"])
    table = bytearray(table)
    for image in range(n):
        for j in range(count):
            source, target = image * views + j % 2, image * views + views - count + j
            table[target * 4:(target + 1) * 4] = table[source * 4:(source + 1) * 4]
            logits[target * classes:(target + 1) * classes] = logits[source * classes:(source + 1) * classes]
    return bytes(table)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("members", nargs="+", help="teacher.logits files to average (one is copied: a one-teacher ensemble)")
    p.add_argument("--out", required=True)
    p.add_argument("--centre-views", type=int, default=0, help="how many of each image's views become copies of its first two")
    args = p.parse_args()
    first_header, first_table, first = read_logits(args.members[0])
    if not 0 <= args.centre_views <= first_header["views"] - 2:  # checked before the averaging
        sys.exit(f"--centre-views {args.centre_views}: between 0 and {first_header['views'] - 2} (the views but the first two)")
    total = array.array("d", first)
    for path in args.members[1:]:
        header, table, logits = read_logits(path)
        for key in ("classes", "views", "names"):
            if header[key] != first_header[key]:
                sys.exit(f"{path}: its {key} differ from {args.members[0]}'s")
        if table != first_table:
            sys.exit(f"{path}: its crop/flip views differ from {args.members[0]}'s (train the members with one --views-seed)")
        total = array.array("d", map(float.__add__, total, logits))
    header = {key: first_header[key] for key in ("format", "version", "classes", "views", "names")}
    header["teacher"] = {"ensemble": args.members, "mean": "logits", "centreViews": args.centre_views}
    mean = array.array("f", (x / len(args.members) for x in total))
    table = centre_views(first_table, mean, header, args.centre_views)
    with open(args.out + ".tmp", "wb") as f:
        f.write(json.dumps(header).encode() + b"\n")
        f.write(table)
        if sys.byteorder == "big":
            mean.byteswap()
        f.write(mean.tobytes())
    os.replace(args.out + ".tmp", args.out)
    print(f"{args.out}: the mean of {len(args.members)} teachers' logits on {len(header['names'])} images")


if __name__ == "__main__":
    main()

"""Makes the page's example strip, www/page/examples/cifar10-examples.jpg: the first two test images
(by file name) of each CIFAR-10 class, in the classes' official order, as one 32-pixel-high
sprite (tile i: class i // 2), JPEG quality 92 (10 kB; lossless PNG would be 46 kB). The page
cuts a tile out and classifies it like a dropped file.

Needs Pillow and the test split unpacked by `make data`:
    python3 tools/examples.py [--data data/cifar10] [--per-class 2]
"""
import argparse
from pathlib import Path

from PIL import Image

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/cifar10", type=Path)
    parser.add_argument("--per-class", default=2, type=int)
    parser.add_argument("--out", default="www/page/examples/cifar10-examples.jpg", type=Path)
    args = parser.parse_args()
    tiles = [
        path
        for name in CLASSES
        for path in sorted((args.data / "test" / name).glob("*.jpg"))[: args.per_class]
    ]
    sprite = Image.new("RGB", (32 * len(tiles), 32))
    for index, path in enumerate(tiles):
        with Image.open(path) as tile:
            if tile.size != (32, 32):
                raise SystemExit(f"{path} is {tile.size[0]}x{tile.size[1]}, not 32x32")
            sprite.paste(tile.convert("RGB"), (32 * index, 0))
    sprite.save(args.out, quality=92, optimize=True)
    print(f"{args.out}: {len(tiles)} tiles, {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()

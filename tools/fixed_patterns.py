"""`secnn::data::fixed_test_patterns(side)` in numpy: the four images `secnn export --logits`
and `--se` compute their outputs on, for the export checks to compute theirs on too."""
import numpy as np


def fixed_test_patterns(side):
    """Four 32-pixel patterns (a gradient, stripes, a disc, noise) drawn at `side` pixels, as
    0-255 values: float32 [4, 3, side, side]."""
    def circle(c, y, x):
        return (250, 180, 20)[c] if (x - 16) ** 2 + (y - 16) ** 2 < 100 else (20, 90, 200)[c]
    patterns = [
        lambda c, y, x: (x * 8 + y * 2 + c * 40) % 256,
        lambda c, y, x: 220 - c * 60 if (x // 4) % 2 == 0 else 30 + c * 50,
        circle,
        lambda c, y, x: ((x * 37 + y * 91 + c * 53) * 2_654_435_761 >> 7) & 0xFF,
    ]
    at_32 = [v * 32 // side for v in range(side)]
    return np.array([[[[f(c, y, x) for x in at_32] for y in at_32] for c in range(3)] for f in patterns],
                    dtype=np.float32)

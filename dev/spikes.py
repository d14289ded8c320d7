"""The bad-tick rule, independently of Strata: shared by the seed checkers (dev/check_seed000.py, check_seed002.py).

A value is a bad tick when it is more than `ratio` times above or below the median of the 2*half+1 values around it;
the window is shifted inwards at the first and last values, and fewer than 3 values flag nothing.
"""
import numpy as np


def bad_ticks(values, ratio=5.0, half=3):
    x = np.asarray(values, dtype=float)
    flags = np.zeros(len(x), dtype=bool)
    width = 2 * half + 1
    for i in range(len(x)):
        lo = max(0, i - half)
        hi = lo + width
        if hi > len(x):
            hi = len(x)
            lo = max(0, hi - width)
        if hi - lo < 3:
            continue
        med = float(np.median(x[lo:hi]))
        flags[i] = x[i] > ratio * med or x[i] * ratio < med
    return flags

"""Flat buffers whose data start on a cache-line boundary.

NumPy aligns a large array's data to 16 bytes, so every 64-byte AVX-512 load of a fused
optimizer or outer-product loop straddles two cache lines. The flat buffers fastgd makes
itself (a model's parameters and gradients, an optimizer's state) start on a 64-byte
boundary instead; arrays a user hands in are used where they are. Measured (Adam,
float32, one thread): 2e6 parameters 789 -> 630 us per step, 235k 53 -> 51 us.
"""
import numpy as np

CACHE_LINE = 64


def aligned_full(n, fill_value, dtype):
    """A 1-D array of ``n`` elements of ``dtype``, all ``fill_value``, 64-byte aligned."""
    dtype = np.dtype(dtype)
    raw = np.empty(n * dtype.itemsize + CACHE_LINE, dtype=np.uint8)
    start = -raw.ctypes.data % CACHE_LINE
    out = raw[start:start + n * dtype.itemsize].view(dtype)
    out.fill(fill_value)
    return out

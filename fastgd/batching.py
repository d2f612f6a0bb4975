"""How an epoch is cut into mini-batches. Shared by the fast engine and the reference, so
both see the same batches.

The order of epoch ``e`` of a run seeded with ``seed`` is
``numpy.random.default_rng([seed, e]).permutation(n)``: it depends only on (seed, epoch),
so a run resumed at epoch k sees the batches an uninterrupted run would have seen, and
PCG64 seeded from a SeedSequence of the pair gives the same order on every platform.
Batches are consecutive slices of that order of ``batch_size`` rows; the last one is
shorter when ``batch_size`` does not divide n, and dropped only with ``drop_last``.
"""
import numpy as np


def epoch_order(n, seed, epoch, shuffle=True):
    """Row order for one epoch (int64 array of length n)."""
    if not shuffle:
        return np.arange(n, dtype=np.int64)
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n).astype(np.int64)


def epoch_orders(n, seed, first, count, shuffle=True):
    """``epoch_order`` of epochs first .. first + count - 1, made in one go. The same arrays;
    cheaper per epoch between C epochs, whose caches leave numpy's generator code cold
    (measured on digits: ~180 us an order one at a time, ~60 in a run of 8)."""
    return [epoch_order(n, seed, e, shuffle) for e in range(first, first + count)]


def n_batches(n, batch_size, drop_last=False):
    """Number of mini-batches in an epoch of n rows."""
    return n // batch_size if drop_last else -(-n // batch_size)


def batch_slices(n, batch_size, drop_last=False):
    """(start, stop) of each mini-batch within the epoch's order."""
    return [(s, min(s + batch_size, n)) for s in range(0, n_batches(n, batch_size, drop_last)
                                                        * batch_size, batch_size)]


def new_seed():
    """A fresh seed for an unseeded fit (recorded in its History, so the run can be redone)."""
    return int(np.random.SeedSequence().entropy % (2**63))

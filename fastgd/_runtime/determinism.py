"""Whether the engine cuts a batch for the thread count or for a fixed one.

Design: the engine splits each batch into row blocks, column blocks of the first layer,
blocks of weight rows and (batch 1) partial sums of the first layer's product; by default
it makes one block per thread, so the GEMM calls -- and, where a block is a partial sum,
the order of a reduction -- depend on how many threads run, and large models can differ
in the last bits between thread counts (DESIGN.md, "Thread-count policy and
determinism"). ``set_deterministic(k)`` makes every engine built afterwards cut its
blocks as for a team of ``k`` threads, whatever the team really is: threads then take
whole blocks, so the same seed gives the same bits on 1, 2, 3 or 64 threads. The price
is that a team smaller than ``k`` runs ``k`` smaller GEMMs, and a team larger than ``k``
leaves threads idle (DESIGN.md, "Bit-identical across thread counts", for the measured
cost). The setting is process-wide and read when ``fit``, ``predict`` and the other
entry points build their engine.
"""
from fastgd._runtime import threads as _threads

__all__ = ["set_deterministic", "get_deterministic", "DEFAULT_BLOCKS"]

# The block count of set_deterministic(True). 4: at 1 thread its extra cost stays within
# the measured few percent at batch 32-1024 (benchmarks/results/deterministic.md), and 2
# and 4 threads get every block they can use.
DEFAULT_BLOCKS = 4

_blocks = 0


def set_deterministic(blocks=True):
    """Make the engine's results independent of the thread count.

    blocks: True (cut for ``DEFAULT_BLOCKS`` threads), an int k >= 1 (cut for k threads:
    the bits of a k-thread run, on any number of threads), or False / None (off: the
    blocks follow the thread count, the default). Returns the previous setting (0: off).
    """
    global _blocks
    previous = _blocks
    if type(blocks).__name__ == "bool_":      # NumPy's bools mean what Python's do
        blocks = bool(blocks)
    if blocks is None or blocks is False or (type(blocks) is int and blocks == 0):
        _blocks = 0
    elif blocks is True:
        _blocks = DEFAULT_BLOCKS
    else:
        _blocks = _threads.check_count(blocks, "blocks")
    return previous


def get_deterministic():
    """The thread count the engine cuts its blocks for, or 0 when they follow the team."""
    return _blocks

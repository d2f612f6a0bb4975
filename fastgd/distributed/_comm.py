"""Collectives with a deadline: what data-parallel fit and the MPI sweep exchange.

Design: every collective is started non-blocking (``Iallreduce``, ``Iallgather``,
``Ibcast``) and completed by polling ``Test`` until a deadline, so a rank that died or
hangs makes the others raise :class:`PeerTimeoutError` after ``timeout`` seconds instead
of blocking forever in MPI. (A blocking call cannot be interrupted from Python; a watchdog
thread could only abort the process.) MPICH's blocking collectives poll the same way, so
the cost is the ``Test`` calls themselves: measured in benchmarks/test_bench_distributed.py
beside a plain ``Allreduce``.

Status exchanges send one fixed-size record per rank: a few float64 numbers and a short
UTF-8 text (an error message, a host name), so every rank learns every other rank's state
from one ``Iallgather`` whose size is known in advance -- no second message whose length
one rank would have to announce first.
"""
import os
import sys
import time

import numpy as np

TEXT_BYTES = 480
DEFAULT_TIMEOUT = 300.0
ABORT_GRACE_S = 0.5     # time for mpiexec to forward the abort message (see _timed_out)


class PeerTimeoutError(TimeoutError):
    """A collective did not complete in time: another rank died, hangs, or is far behind.
    Raised only with ``on_timeout="raise"`` (by default the job is aborted, since the
    interpreter's MPI_Finalize would wait for the lost rank forever). The communicator is
    unusable afterwards: end the job (``python -m mpi4py script.py`` aborts every rank on
    an unhandled exception)."""


class RankError(RuntimeError):
    """Another rank failed: the failing rank raises its own error, every other rank this
    one, so none waits in a collective the failed one will never enter. ``failures`` maps
    rank -> message."""

    def __init__(self, message, failures):
        super().__init__(message)
        self.failures = dict(failures)


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:   # pragma: no cover - callers pass an mpi4py communicator
        raise ImportError("fastgd.distributed needs mpi4py: pip install 'fastgd[mpi]' "
                          "(and an MPI, e.g. pip install mpich)") from e
    return MPI


def resolve_timeout(timeout):
    if timeout is None:
        timeout = float(os.environ.get("FASTGD_MPI_TIMEOUT", DEFAULT_TIMEOUT))
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or \
            not timeout > 0 or timeout != timeout:
        raise ValueError(f"timeout: expected a number of seconds > 0, got {timeout!r}")
    return float(timeout)


class Group:
    """An mpi4py intra-communicator with deadline-bounded collectives."""

    def __init__(self, comm, timeout=None, on_timeout="abort"):
        MPI = _mpi()
        if not isinstance(comm, MPI.Intracomm):
            raise TypeError(f"comm: expected an mpi4py intra-communicator (e.g. "
                            f"MPI.COMM_WORLD), got {type(comm).__name__}")
        self.MPI = MPI
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.timeout = resolve_timeout(timeout)
        if on_timeout not in ("abort", "raise"):
            raise ValueError(f"on_timeout: expected 'abort' or 'raise', got {on_timeout!r}")
        self.on_timeout = on_timeout

    def wait(self, req, what):
        """Complete ``req`` or raise PeerTimeoutError after ``timeout`` seconds. A
        KeyboardInterrupt meanwhile is raised once the collective has completed: leaving
        it half-done would leave the other ranks waiting in it."""
        if req.Test():
            return
        deadline = time.monotonic() + self.timeout
        spins, interrupted = 0, None
        while True:
            try:
                if req.Test():
                    break
                spins += 1
                if spins & 63 == 0:
                    if time.monotonic() > deadline:
                        self._timed_out(what)
                    # let a rank that shares this core run (oversubscribed or busy hosts)
                    os.sched_yield()
            except KeyboardInterrupt as e:
                interrupted = e
        if interrupted is not None:
            raise interrupted

    def _timed_out(self, what):
        err = PeerTimeoutError(
            f"rank {self.rank}/{self.size}: {what} did not complete within "
            f"{self.timeout:g} s; another rank has died, hangs or is far behind (set "
            "timeout= or FASTGD_MPI_TIMEOUT to wait longer)")
        if self.on_timeout == "raise":
            raise err
        # MPI_Finalize at interpreter exit would wait for the lost rank forever (measured:
        # MPICH hangs there), so a timeout ends the whole job unless asked not to
        sys.stderr.write(f"fastgd.distributed: {err}; aborting the MPI job\n")
        sys.stderr.flush()
        # Abort kills the launcher's stdio forwarding with the job: without a pause the
        # message above was lost in 1 of 6 runs (MPICH hydra); 0.5 s lost none in 20
        time.sleep(ABORT_GRACE_S)
        self.comm.Abort(1)
        raise err   # pragma: no cover - Abort does not return

    def allreduce_sum(self, buf, what="gradient allreduce"):
        """In place: ``buf`` becomes the element-wise sum over ranks."""
        if self.size > 1:
            self.wait(self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM), what)

    def exchange(self, values, text="", what="status exchange"):
        """Every rank's ``values`` (a few floats) and ``text``: (array size x k, texts)."""
        values = np.asarray(values, dtype=np.float64).ravel()
        raw = text.encode("utf-8", "replace")[:TEXT_BYTES]
        mine = np.zeros(values.size * 8 + 2 + TEXT_BYTES, dtype=np.uint8)
        mine[:values.size * 8] = values.view(np.uint8)
        mine[values.size * 8:values.size * 8 + 2] = np.array([len(raw)], np.uint16).view(np.uint8)
        mine[values.size * 8 + 2:values.size * 8 + 2 + len(raw)] = np.frombuffer(raw, np.uint8)
        every = np.empty((self.size, mine.size), dtype=np.uint8)
        if self.size > 1:
            self.wait(self.comm.Iallgather(mine, every), what)
        else:
            every[0] = mine
        k = values.size * 8
        nums = every[:, :k].copy().view(np.float64).reshape(self.size, values.size)
        texts = []
        for row in every:
            length = int(row[k:k + 2].copy().view(np.uint16)[0])
            texts.append(bytes(row[k + 2:k + 2 + length]).decode("utf-8", "replace"))
        return nums, texts

    def bcast_array(self, buf, root=0, what="broadcast"):
        """In place: every rank's ``buf`` becomes root's (same shape and dtype everywhere)."""
        if self.size > 1:
            self.wait(self.comm.Ibcast(buf, root=root), what)

    def bcast_bytes(self, data, root=0, what="broadcast"):
        """root's bytes on every rank (a length, then the bytes)."""
        n = np.array([len(data) if self.rank == root else 0], dtype=np.int64)
        self.bcast_array(n, root, what)
        buf = np.frombuffer(data, np.uint8).copy() if self.rank == root else \
            np.empty(int(n[0]), np.uint8)
        self.bcast_array(buf, root, what)
        return buf.tobytes()

    def raise_failures(self, texts, codes, own_error=None, where=""):
        """If any rank reported a failure (code != 0): the failing rank re-raises its own
        error, every other rank raises RankError naming them all."""
        failed = {r: t for r, (t, c) in enumerate(zip(texts, codes)) if c != 0}
        if not failed:
            return
        parts = "; ".join(f"rank {r}: {t}" for r, t in sorted(failed.items()))
        if own_error is not None:
            raise own_error
        raise RankError(f"{where}{len(failed)} of {self.size} ranks failed ({parts})", failed)

    def local_size(self, host_texts):
        """How many ranks share this rank's host (from exchanged host names)."""
        return max(1, sum(1 for h in host_texts if h == host_texts[self.rank]))


def host_name():
    try:
        return _mpi().Get_processor_name()
    except Exception:   # pragma: no cover
        import socket
        return socket.gethostname()


def cores():
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # pragma: no cover - not Linux
        return os.cpu_count() or 1


def describe(exc):
    return f"{type(exc).__name__}: {exc}"

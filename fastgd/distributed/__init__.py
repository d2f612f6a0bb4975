"""Beyond one machine: data-parallel ``fit`` over MPI, and parameter sweeps on Dask or MPI.

``fastgd.fit(..., comm=MPI.COMM_WORLD)`` (or :func:`fit` here, which also takes
``timeout=``) trains one model over the ranks of an mpi4py communicator; :func:`sweep`
(also ``fastgd.sweep``) runs independent fits over a parameter grid. mpi4py, Dask and
pandas are optional (``pip install 'fastgd[mpi]'``, ``'fastgd[dask]'``) and imported only
when used.
"""
from fastgd.distributed._comm import DEFAULT_TIMEOUT, PeerTimeoutError, RankError
from fastgd.distributed.data_parallel import CommStats, data_parallel_fit
from fastgd.distributed.sweeps import SweepResult, sweep

fit = data_parallel_fit

__all__ = ["fit", "data_parallel_fit", "sweep", "SweepResult", "CommStats",
           "PeerTimeoutError", "RankError", "DEFAULT_TIMEOUT"]

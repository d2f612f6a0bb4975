"""How many threads fastgd's kernels use, and the policy that keeps them from fighting BLAS.

Policy: an explicit ``n_threads=`` argument wins; otherwise ``fastgd.set_num_threads(n)``;
otherwise ``OMP_NUM_THREADS`` when the environment sets it (OpenMP's own default then,
taken as the user's choice); otherwise the *automatic default* below. threadpoolctl's
``threadpool_limits(user_api="openmp")`` caps both (fastgd's OpenMP runtime is the one
threadpoolctl sees as ``openmp``).

Design: the automatic default is the smallest of

* OpenMP's default team size (``omp_get_max_threads``);
* the CPUs this process may run on (``os.sched_getaffinity``: ``taskset``, a cpuset);
* the cgroup CPU quota, rounded down (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` /
  ``cpu.cfs_period_us``: ``docker --cpus``, Kubernetes limits), at least 1;
* the CPUs of that set other processes leave free, rounded down after adding 0.25 of
  slack: other processes' use is the larger of the busy time of those CPUs in
  ``/proc/stat`` less this process's own CPU time over the last window, and the tasks
  runnable right now in ``/proc/loadavg`` less this process's; re-read at most every
  0.25 s, so ``opt.step`` pays well under a microsecond for the check.

Why the last one: the engine and the optimizer kernels end each parallel region at a
barrier, so a team is as fast as its slowest thread. When another process holds a core, a
team with a thread on that core waits for the scheduler to give it a slice (milliseconds)
at every barrier: measured on 2 vCPUs with one busy-loop neighbour, Adam over 1e6
parameters took 8.3 ms/step at 2 threads against 0.52 ms at 1. The default therefore
depends on the machine's load when a kernel starts (``fit`` decides once per call); pass
``n_threads=`` or call ``fastgd.set_num_threads`` for a fixed count (results of large
models can differ in the last bits between thread counts: see DESIGN.md, "Thread-count
policy and determinism"). ``explain_default()`` says what each limit was. Fits running at
once in several Python threads of one process do not see each other's teams as load (that
is this process's own CPU time): give them ``n_threads=`` counts that add up to the CPUs.

The engine parallelises a batch itself (rows, then columns) and calls BLAS from inside its
threads, so while any fit runs every BLAS is limited to one thread
(:func:`single_threaded_blas`): one pool on the cores, never two. The limit is process-wide
and reference-counted: the first fit to enter sets it, the last to leave restores what was
there before, so fits overlapping in Python threads neither run multi-threaded BLAS inside
a team nor leave BLAS single-threaded afterwards.
"""
import operator
import os
import threading
import time

from fastgd._runtime import _openmp

__all__ = ["set_num_threads", "get_num_threads", "resolve", "explain_default",
           "describe_default", "single_threaded_blas", "blas_limit_depth"]

_override = None


def set_num_threads(n):
    """Use ``n`` threads in fastgd's kernels from now on; ``None`` restores the default."""
    global _override
    if n is None:
        _override = None
        return
    _override = _check_count(n, "n")


def get_num_threads():
    """The thread count a kernel started now would use."""
    return resolve(None)


def resolve(n_threads):
    """Turn a user's ``n_threads`` argument (None or a positive int) into a count."""
    if n_threads is None:                 # opt.step's path: kept to ~0.2 us
        if _override is not None:
            return _override
        c = _cached
        if c is not None and _monotonic() < c[0]:
            # OpenMP's count is read every time: threadpoolctl's openmp limit is per thread
            omp = _omp_max_threads()
            cap = c[1]
            return omp if cap is None or omp <= cap else cap
        return _refresh()["threads"]
    return _check_count(n_threads, "n_threads")


# The most threads a count may ask for. The kernels cap their teams lower still (the
# optimizer at 512, the engine at its block count), but a count has to fit the C int it is
# passed as: 2**40 used to pass set_num_threads and fail at the next step, naming nothing.
MAX_THREADS = 4096


def check_count(n, name):
    """``n`` as a thread count (an int in [1, MAX_THREADS], never a bool), or raise
    naming ``name``."""
    if isinstance(n, bool) or type(n).__name__ == "bool_":
        raise TypeError(f"{name}: expected a positive integer or None, got {n!r}")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"{name}: expected a positive integer or None, got {n!r}") from None
    if n < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {n}")
    if n > MAX_THREADS:
        raise ValueError(f"{name}: expected an integer <= {MAX_THREADS}, got {n}")
    return n


_check_count = check_count


# ------------------------------------------------------------------ the automatic default
_REFRESH_S = 0.25      # how often the load is re-read
_SLACK = 0.25          # a CPU counts as free when others leave >= 0.75 of it
_MIN_WINDOW_S = 0.05   # shorter windows are too coarse for /proc/stat's 10 ms ticks

_state_lock = threading.Lock()
_cached = None         # (monotonic time it expires, cap on OpenMP's count or None)
_monotonic = time.monotonic
_omp_max_threads = _openmp.omp_max_threads
_last_sample = None    # (monotonic time, {cpu: busy ticks}, own cpu seconds)


def _refresh():
    global _cached
    with _state_lock:
        info = _compute()
        _cached = (time.monotonic() + _REFRESH_S, info["cap"])
    return info


def explain_default():
    """The automatic default and what limited it, as a dict (fresh measurement).

    Keys: ``threads``, ``cap`` (the limit put on OpenMP's count, or None), ``openmp``
    (OpenMP's team size), ``env`` (OMP_NUM_THREADS or None),
    ``affinity`` (CPUs this process may use, or None), ``quota`` (cgroup CPUs or None),
    ``others`` (CPUs' worth used by other processes on those CPUs, or None), ``free``."""
    return _refresh()


def describe_default():
    """One phrase on how the thread count of ``resolve(None)`` is reached (for the CLI)."""
    if _override is not None:
        return "set by fastgd.set_num_threads"
    info = explain_default()
    if info["env"]:
        return f"OMP_NUM_THREADS={info['env']}"
    parts = [f"{info['affinity'] or info['openmp']} CPUs"]
    if info["quota"] is not None:
        parts.append(f"cgroup quota {info['quota']:g} CPUs")
    if info["others"] is not None:
        parts.append(f"other processes busy on {info['others']:.1f}")
    return "the default: " + ", ".join(parts)


def _compute():
    omp = max(1, _openmp.omp_max_threads())
    env = os.environ.get("OMP_NUM_THREADS")
    cpus = _affinity()
    quota = _cgroup_quota()
    info = {"openmp": omp, "env": env, "affinity": None if cpus is None else len(cpus),
            "quota": quota, "others": None, "free": None, "cap": None}
    if env:    # the user's choice (already in omp_max_threads, with any threadpoolctl cap)
        info["threads"] = omp
        return info
    n = 1 << 30
    if cpus is not None:
        n = min(n, len(cpus))
    if quota is not None:
        n = min(n, max(1, int(quota)))
    others = _others_busy(cpus)
    if others is not None:
        n_cpus = len(cpus) if cpus is not None else (os.cpu_count() or 1)
        free = max(0.0, n_cpus - others)
        info.update(others=round(min(others, n_cpus), 2), free=round(free, 2))
        n = min(n, max(1, int(free + _SLACK)))
    info["cap"] = None if n == 1 << 30 else n
    info["threads"] = max(1, min(omp, n))
    return info


def _affinity():
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):   # not Linux
        return None


def _read_words(path):
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return None


def _cgroup_quota():
    """CPUs the cgroup quota allows (a float), or None without a quota (or cgroups)."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    best = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        path = path.lstrip("/")
        if controllers == "":                       # cgroup v2: "0::/path"
            candidates = [("/sys/fs/cgroup", path)]
            files = ("cpu.max",)
        elif "cpu" in controllers.split(","):       # cgroup v1: "4:cpu,cpuacct:/path"
            candidates = [(f"/sys/fs/cgroup/{controllers}", path), ("/sys/fs/cgroup/cpu", path),
                          ("/sys/fs/cgroup/cpu,cpuacct", path)]
            files = ("cpu.cfs_quota_us", "cpu.cfs_period_us")
        else:
            continue
        for root, rel in candidates:
            q = _quota_up_the_tree(root, rel, files)
            if q is not None:
                best = q if best is None else min(best, q)
                break
    return best


def _quota_up_the_tree(root, rel, files):
    """The smallest quota on the path from the process's cgroup up to ``root`` (a parent's
    limit binds its children; inside a container the cgroup is often mounted as root)."""
    best, seen = None, False
    parts = [p for p in rel.split("/") if p]
    for depth in range(len(parts), -1, -1):
        d = os.path.join(root, *parts[:depth])
        if len(files) == 1:
            v = _read_words(os.path.join(d, files[0]))
            if v is None:
                continue
            seen = True
            if len(v) == 2 and v[0] != "max":
                q = _ratio(v[0], v[1])
                best = q if best is None or (q is not None and q < best) else best
        else:
            qv, pv = _read_words(os.path.join(d, files[0])), \
                _read_words(os.path.join(d, files[1]))
            if not qv or not pv:
                continue
            seen = True
            if qv[0] != "-1":
                q = _ratio(qv[0], pv[0])
                best = q if best is None or (q is not None and q < best) else best
    return best if seen else None


def _ratio(a, b):
    try:
        a, b = int(a), int(b)
    except ValueError:
        return None
    return a / b if a > 0 and b > 0 else None


def _cpu_busy():
    """{cpu number: busy ticks} from /proc/stat (user+nice+system+irq+softirq+steal), or
    None where /proc/stat is absent."""
    try:
        with open("/proc/stat") as f:
            text = f.read()
    except OSError:
        return None
    busy = {}
    for line in text.splitlines():
        if not line.startswith("cpu"):
            if busy:
                break          # the per-CPU lines come first
            continue
        f = line.split()
        if f[0] == "cpu":      # the all-CPU total
            continue
        try:
            cpu = int(f[0][3:])
            v = [int(x) for x in f[1:9]] + [0] * 8
        except ValueError:
            continue
        busy[cpu] = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]   # not idle (3), iowait (4)
    return busy or None


def _own_cpu_seconds():
    t = os.times()
    return t.user + t.system


def _sample():
    busy = _cpu_busy()
    return None if busy is None else (time.monotonic(), busy, _own_cpu_seconds())


def _others_busy(cpus):
    """CPUs' worth of ``cpus`` that other processes use: the larger of their busy time
    since the last sample (/proc/stat less this process's CPU time; skipped when the window
    is under _MIN_WINDOW_S) and the tasks runnable right now (/proc/loadavg less this
    process's). The larger, because the costs are lopsided: one thread where two were free
    costs at most 2x, two threads where one was free cost up to 16x (see the module
    docstring), and the window alone is blind to a neighbour that has only just started."""
    global _last_sample
    now = _sample()
    if now is None:
        return None
    prev = _last_sample
    window = None
    if prev is not None and now[0] - prev[0] >= _MIN_WINDOW_S:
        hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        keys = cpus if cpus is not None else now[1].keys()
        ticks = sum(now[1].get(c, 0) - prev[1].get(c, 0) for c in keys)
        window = max(0.0, (ticks / hz - (now[2] - prev[2])) / (now[0] - prev[0]))
        _last_sample = now
    elif prev is None:
        _last_sample = now
    instant = _runnable_others(cpus)
    if window is None:
        return instant
    return window if instant is None else max(window, instant)


def _own_running_tasks():
    """This process's threads in state R (running or runnable), e.g. OpenMP workers still
    spinning after a region; at least 1 (the caller)."""
    n = 0
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        n += state == "R"
    return max(1, n)


def _runnable_others(cpus, reads=3):
    """Other processes' runnable tasks now: the least of a few reads of /proc/loadavg
    (less this process's), so a kernel thread waking for a moment is not taken for a
    neighbour, while a busy loop, runnable all the time, shows in every read."""
    least = None
    for _ in range(reads):
        try:
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return None
        others = max(0, running - _own_running_tasks())
        least = others if least is None else min(least, others)
    n_all = os.cpu_count() or 1
    if cpus is not None and len(cpus) < n_all:
        # runnable tasks anywhere on the machine, scaled to this process's share of it
        return least * len(cpus) / n_all
    return float(least)


_last_sample = _sample()     # the first window starts at import


# ------------------------------------------------------------------ BLAS limit
_controller = None
_blas_lock = threading.Lock()
_blas_depth = 0
_blas_saved = None     # [(library controller, its thread count before the first entrant)]


def _blas_libraries():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController
        _controller = ThreadpoolController()   # scans loaded libraries once (~ms)
    return [lc for lc in _controller.lib_controllers if lc.user_api == "blas"]


def _release_openblas_control():
    """threadpoolctl >= 3.6 lets only one "controlling" Python thread set OpenBLAS's
    process-wide count and silently ignores the others; the first fit to enter and the
    last to leave may be different threads (or a user's threadpool_limits block may hold
    control in another), so control is released around each change, under our lock."""
    try:
        from threadpoolctl import OpenBLASController
    except ImportError:
        return
    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


def _set_blas_threads(pairs):
    _release_openblas_control()
    for lc, n in pairs:
        if n is not None:
            lc.set_num_threads(n)
    _release_openblas_control()


class single_threaded_blas:
    """Context manager limiting every loaded BLAS to one thread while any fit runs.

    The engine calls BLAS from inside its own OpenMP threads; a multi-threaded BLAS there
    would start a second pool on the same cores (measured 20-70x slower on 2 cores).
    BLAS thread counts are process-wide, so the limit is reference-counted under a lock:
    the first entrant (in any Python thread) records the current counts and sets 1, later
    entrants only count, and the last to leave (in whatever thread) restores the recorded
    counts. Nested use (fit → validation → model.loss) counts the same way. Code in other
    Python threads sees single-threaded BLAS while a fit runs (the price of one pool)."""

    __slots__ = ()

    def __enter__(self):
        global _blas_depth, _blas_saved
        with _blas_lock:
            if _blas_depth == 0:
                libs = _blas_libraries()
                _blas_saved = [(lc, lc.get_num_threads()) for lc in libs]
                _set_blas_threads([(lc, 1) for lc in libs])
            _blas_depth += 1
        return self

    def __exit__(self, *exc):
        global _blas_depth, _blas_saved
        with _blas_lock:
            _blas_depth -= 1
            if _blas_depth == 0:
                saved, _blas_saved = _blas_saved, None
                _set_blas_threads(saved)
        return False


def blas_limit_depth():
    """How many single_threaded_blas blocks are open now (in all threads): for tests."""
    return _blas_depth

"""The automatic thread default: affinity, cgroup quota, other processes' load."""
import os
import subprocess
import sys
import time

import pytest

import fastgd
from fastgd._runtime import threads as T


@pytest.fixture
def fresh(monkeypatch):
    """No cached default, no OMP_NUM_THREADS, no set_num_threads override."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(T, "_cached", None)
    monkeypatch.setattr(T, "_override", None)
    return T


def test_default_is_within_openmp_affinity_and_quota(fresh):
    info = T.explain_default()
    n = info["threads"]
    assert 1 <= n <= info["openmp"]
    if info["affinity"] is not None:
        assert n <= info["affinity"] == len(os.sched_getaffinity(0))
    if info["quota"] is not None:
        assert n <= max(1, int(info["quota"]))
    assert fastgd.get_num_threads() >= 1


def test_explicit_choices_win_over_the_default(fresh, monkeypatch):
    monkeypatch.setattr(T, "_compute", lambda: pytest.fail("default consulted"))
    assert T.resolve(3) == 3
    fastgd.set_num_threads(5)
    try:
        assert T.resolve(None) == 5
    finally:
        fastgd.set_num_threads(None)


def test_omp_num_threads_is_the_users_choice(fresh, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.setattr(T._openmp, "omp_max_threads", lambda: 7)
    monkeypatch.setattr(T, "_others_busy", lambda cpus: pytest.fail("load consulted"))
    info = T.explain_default()
    assert info["threads"] == 7 and info["env"] == "7"


@pytest.mark.parametrize("omp, cpus, quota, others, expected", [
    (16, 16, None, 0.0, 16),        # idle machine: every CPU
    (16, 16, None, 1.0, 15),        # one busy neighbour: the CPUs it leaves
    (16, 16, None, 0.5, 15),        # half a CPU taken counts as taken
    (16, 16, None, 0.2, 16),        # ... a fifth does not (0.25 of slack)
    (2, 2, None, 1.0, 1),           # the 2-vCPU case of the issue: 1 thread
    (2, 2, None, 5.0, 1),           # never fewer than 1
    (16, 4, None, 0.0, 4),          # taskset / cpuset
    (16, 16, 2.5, 0.0, 2),          # docker --cpus=2.5: rounded down
    (16, 16, 0.5, 0.0, 1),          # a fractional quota still gets a thread
    (16, 16, None, None, 16),       # no /proc/stat (not Linux): no load cap
])
def test_default_policy_table(fresh, monkeypatch, omp, cpus, quota, others, expected):
    monkeypatch.setattr(T._openmp, "omp_max_threads", lambda: omp)
    monkeypatch.setattr(T, "_affinity", lambda: frozenset(range(cpus)))
    monkeypatch.setattr(T, "_cgroup_quota", lambda: quota)
    monkeypatch.setattr(T, "_others_busy", lambda c: others)
    assert T.explain_default()["threads"] == expected


def test_default_is_cached_briefly(fresh, monkeypatch):
    monkeypatch.setattr(T, "_omp_max_threads", lambda: 16)
    calls = []

    def compute():
        calls.append(1)
        return {"threads": 3, "cap": 3}
    monkeypatch.setattr(T, "_compute", compute)
    assert T.get_num_threads() == 3 and T.get_num_threads() == 3
    assert len(calls) == 1
    monkeypatch.setattr(T, "_omp_max_threads", lambda: 2)    # a threadpoolctl limit
    assert T.get_num_threads() == 2 and len(calls) == 1      # applies at once
    monkeypatch.setattr(T, "_cached", (time.monotonic() - 1.0, 3))     # expired
    T.get_num_threads()
    assert len(calls) == 2


def _cgroup_tree(tmp_path, version, quota):
    root = tmp_path / "cg"
    if version == 2:
        d = root / "a" / "b"
        d.mkdir(parents=True)
        (root / "a" / "cpu.max").write_text(quota + "\n")
        (d / "cpu.max").write_text("max 100000\n")
        return root, "0::/a/b\n"
    d = root / "cpu" / "a"
    d.mkdir(parents=True)
    q, p = quota.split()
    (d / "cpu.cfs_quota_us").write_text(q + "\n")
    (d / "cpu.cfs_period_us").write_text(p + "\n")
    return root, "3:cpu:/a\n"


@pytest.mark.parametrize("version, quota, expected", [
    (2, "250000 100000", 2.5), (2, "max 100000", None),
    (1, "150000 100000", 1.5), (1, "-1 100000", None),
])
def test_cgroup_quota_is_read(tmp_path, monkeypatch, version, quota, expected):
    """A parent's cpu.max binds its children (v2); v1's quota/period pair."""
    root, self_cgroup = _cgroup_tree(tmp_path, version, quota)
    real_open = open

    def fake_open(path, *a, **kw):
        path = os.fspath(path)
        if path == "/proc/self/cgroup":
            path = tmp_path / "self_cgroup"
            path.write_text(self_cgroup)
        elif path.startswith("/sys/fs/cgroup"):
            path = str(root) + path[len("/sys/fs/cgroup"):]
        return real_open(path, *a, **kw)
    monkeypatch.setattr("builtins.open", fake_open)
    assert T._cgroup_quota() == expected


def test_others_busy_sees_a_competing_process(fresh):
    """A busy-loop process pinned to one of our CPUs shows as ~1 CPU of others' load (the
    measurement itself, no timing assertion: the count of busy ticks over a window)."""
    cpus = T._affinity()
    if cpus is None or T._cpu_busy() is None:
        pytest.skip("needs Linux /proc/stat and sched_getaffinity")
    one = min(cpus)
    hog = subprocess.Popen([sys.executable, "-c",
                            f"import os; os.sched_setaffinity(0, {{{one}}})\nwhile True: pass"])
    try:
        time.sleep(0.3)                    # let it start spinning
        T._last_sample = T._sample()
        time.sleep(0.5)
        others = T._others_busy(frozenset({one}))
    finally:
        hog.kill()
        hog.wait()
    assert others >= 0.6, others           # it ran (nearly) all the window on that CPU


def test_bench_follows_the_default_on_a_loaded_machine(fresh, monkeypatch):
    """`fastgd bench` without --threads takes the automatic default, so a neighbour holding
    a CPU makes it bench 1 thread (not a team that waits for a descheduled thread)."""
    from fastgd.cli import bench
    monkeypatch.setattr(T._openmp, "omp_max_threads", lambda: 2)
    monkeypatch.setattr(T, "_affinity", lambda: frozenset({0, 1}))
    monkeypatch.setattr(T, "_cgroup_quota", lambda: None)
    monkeypatch.setattr(T, "_others_busy", lambda c: 1.0)
    monkeypatch.setattr(bench, "_torch", lambda: None)
    monkeypatch.setattr(bench, "_sklearn_mlp", lambda: None)
    said = []
    bench.run_bench(n_params=1000, n_samples=128, repeat=1, say=said.append)
    assert said[0].startswith("fastgd bench: 1 thread(s) (the default: 2 CPUs, other "
                              "processes busy on 1.0; --threads N to choose)")


def test_describe_default_names_the_source(fresh, monkeypatch):
    monkeypatch.setattr(T, "_cgroup_quota", lambda: 1.5)
    assert "cgroup quota 1.5 CPUs" in T.describe_default()
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert T.describe_default() == "OMP_NUM_THREADS=3"
    fastgd.set_num_threads(2)
    try:
        assert T.describe_default() == "set by fastgd.set_num_threads"
    finally:
        fastgd.set_num_threads(None)

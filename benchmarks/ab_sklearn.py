"""One digits case of report_sklearn.py as an A/B that also reads CPU time:

    python benchmarks/ab_sklearn.py SOLVER BATCH EPOCHS REPEATS

fits fastgd.sklearn's and scikit-learn's MLPClassifier REPEATS times, interleaved, on one
thread (scikit-learn's BLAS limited with threadpoolctl), and prints each one's median wall
and CPU time with their ranges and the two ratios. CPU time is the steadier of the two on
a shared host (a descheduled process loses wall time, not CPU time); run it alternately
from two checkouts to compare them.
"""
import statistics
import sys
import time
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SKC
from threadpoolctl import threadpool_limits

from fastgd.sklearn import MLPClassifier as FGC

sys.path.insert(0, "benchmarks")
from report_sklearn import digits   # noqa: E402


def main(solver, batch, epochs, repeats):
    X, y = digits()
    p = dict(solver=solver, max_iter=epochs, random_state=0, batch_size=batch)
    if solver != "lbfgs":
        p.update(tol=0.0, n_iter_no_change=epochs)
    res = {"fastgd": [], "scikit-learn": []}
    makers = (("fastgd", lambda: FGC(**p, n_threads=1)), ("scikit-learn", lambda: SKC(**p)))
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(repeats):
            for name, make in makers:
                est = make()
                t0, c0 = time.perf_counter(), time.process_time()
                est.fit(X, y)
                res[name].append((time.perf_counter() - t0, time.process_time() - c0))
    med = {}
    for name, v in res.items():
        wall, cpu = [a for a, _ in v], [b for _, b in v]
        med[name] = (statistics.median(wall), statistics.median(cpu))
        print(f"{name}: wall median {med[name][0]:.4f} [{min(wall):.4f}-{max(wall):.4f}]  "
              f"cpu median {med[name][1]:.4f} [{min(cpu):.4f}-{max(cpu):.4f}]")
    print("ratio wall %.2f  cpu %.2f" % (med["scikit-learn"][0] / med["fastgd"][0],
                                        med["scikit-learn"][1] / med["fastgd"][1]))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))

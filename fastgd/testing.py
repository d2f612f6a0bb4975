"""pytest plugin: time fastgd against the NumPy reference (and PyTorch, scikit-learn when
installed) on your own model and data, with pytest-benchmark.

Installed with fastgd as a ``pytest11`` entry point named ``fastgd`` (``-p no:fastgd``
turns it off). Two fixtures; a test that uses one runs once per implementation, and the
runs share one pytest-benchmark group, so its table shows each row's time relative to the
fastest in parentheses. The ratios to fastgd are also stored in ``extra_info["x_fastgd"]``
(kept by ``--benchmark-save``) and printed in a "fastgd ratios" section at the end::

    def test_my_training(fastgd_fit_benchmark):
        X, y = my_data()
        model = fastgd.MLP([X.shape[1], 128, 10], seed=0)
        fastgd_fit_benchmark(model, X, y, optimizer="Adam", lr=1e-3, batch_size=64)

    def test_my_step(fastgd_step_benchmark):
        fastgd_step_benchmark([W, b], [dW, db], optimizer="Adam", lr=1e-3)

``fastgd_fit_benchmark`` times one training epoch; each implementation trains its own
copy of the model (the same starting weights), with the same thread count:
``fastgd.fit``, ``fastgd.reference.fit``, a ``torch.nn.Sequential`` of the same layers
with ``torch.optim.<optimizer>``, and scikit-learn's ``MLPClassifier``/``MLPRegressor``
(Adam or SGD, activations it has). ``fastgd_step_benchmark`` times one optimizer step on
copies of the arrays: ``fastgd.<optimizer>``, ``fastgd.reference.<optimizer>``, and
``torch.optim.<optimizer>``. An implementation that is not installed, or has no twin of
the model or optimizer, is skipped with the reason.

Design: nothing here imports fastgd, NumPy or a peer until a fixture runs, so the plugin
costs nothing in test runs that do not use it.
"""
import pytest

IMPLS_FIT = ("fastgd", "reference", "torch", "sklearn")
IMPLS_STEP = ("fastgd", "reference", "torch")
_RATIOS = pytest.StashKey()        # config.stash: {group: {impl: median seconds}}

_TORCH_ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid",
                      "identity": "Identity", "leaky_relu": "LeakyReLU"}
_SKLEARN_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic",
                        "identity": "identity"}


@pytest.fixture(params=IMPLS_FIT)
def fastgd_fit_impl(request):
    """The implementation this run of a ``fastgd_fit_benchmark`` test times."""
    return request.param


@pytest.fixture(params=IMPLS_STEP)
def fastgd_step_impl(request):
    """The implementation this run of a ``fastgd_step_benchmark`` test times."""
    return request.param


@pytest.fixture
def fastgd_fit_benchmark(request, fastgd_fit_impl):
    """``run(model, X, y, *, optimizer="Adam", batch_size=32, rounds=3, n_threads=None,
    seed=0, **hyper)``: time one epoch of training ``model`` (a fastgd.MLP) on (X, y)."""
    _check_benchmark_installed(request, "fastgd_fit_benchmark")

    def run(model, X, y, *, optimizer="Adam", batch_size=32, rounds=3, n_threads=None,
            seed=0, **hyper):
        epoch = _fit_epoch(fastgd_fit_impl, model, X, y, optimizer, batch_size, seed, hyper)
        return _time(request, fastgd_fit_impl, epoch, rounds, n_threads)
    return run


@pytest.fixture
def fastgd_step_benchmark(request, fastgd_step_impl):
    """``run(params, grads, *, optimizer="Adam", rounds=100, n_threads=None, **hyper)``:
    time one optimizer step over copies of ``params`` with the gradients ``grads``."""
    _check_benchmark_installed(request, "fastgd_step_benchmark")

    def run(params, grads, *, optimizer="Adam", rounds=100, n_threads=None, **hyper):
        step = _step(fastgd_step_impl, params, grads, optimizer, hyper)
        return _time(request, fastgd_step_impl, step, rounds, n_threads)
    return run


def pytest_terminal_summary(terminalreporter, config):
    ratios = config.stash.get(_RATIOS, None)
    if not ratios:
        return
    terminalreporter.section("fastgd ratios (median time / fastgd's median)")
    for group, medians in ratios.items():
        base = medians.get("fastgd")
        cells = [f"{impl} {seconds / base:.2f}x" if base else f"{impl} {seconds:.3g}s"
                 for impl, seconds in medians.items()]
        terminalreporter.write_line(f"{group}: " + ", ".join(cells))


# --------------------------------------------------------------------------- timing

def _check_benchmark_installed(request, name):
    if not request.config.pluginmanager.hasplugin("benchmark"):
        pytest.fail(f"{name}: expected pytest-benchmark to be installed "
                    f"(pip install pytest-benchmark), got none", pytrace=False)


def _group(request):
    """The test's name and its own parameters, without the implementation's."""
    callspec = getattr(request.node, "callspec", None)
    params = {} if callspec is None else callspec.params
    rest = [f"{k}={v}" for k, v in params.items() if k not in ("fastgd_fit_impl",
                                                                "fastgd_step_impl")]
    name = request.node.originalname
    return f"{name}[{', '.join(rest)}]" if rest else name


def _time(request, impl, fn, rounds, n_threads):
    """Run ``fn`` once untimed, then ``rounds`` times under pytest-benchmark, with every
    library limited to the same thread count; returns fn's last result."""
    from threadpoolctl import threadpool_limits
    from fastgd._runtime import threads as _threads
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds: expected an integer >= 1, got {rounds!r}")
    threads = _threads.resolve(n_threads)
    # taken only now: pytest-benchmark warns about a benchmark fixture that a skipped or
    # rejected run requested but never used
    benchmark = request.getfixturevalue("benchmark")
    group = _group(request)
    benchmark.group = group
    benchmark.extra_info.update(impl=impl, threads=threads)
    with _torch_threads(threads), threadpool_limits(threads, user_api="blas"):
        saved, _threads._override = _threads._override, threads
        try:
            fn()   # warm-up: first touch, lazy initialisation; not timed
            result = benchmark.pedantic(fn, rounds=rounds, iterations=1)
        finally:
            _threads._override = saved
    if benchmark.stats is not None:   # None under --benchmark-disable
        median = benchmark.stats.stats.median
        medians = request.config.stash.setdefault(_RATIOS, {}).setdefault(group, {})
        medians[impl] = median
        if medians.get("fastgd"):
            benchmark.extra_info["x_fastgd"] = round(median / medians["fastgd"], 3)
    return result


class _torch_threads:
    """torch.set_num_threads(n) for the block, when torch is already imported."""

    def __init__(self, n):
        self.n, self.saved = n, None

    def __enter__(self):
        import sys
        torch = sys.modules.get("torch")
        if torch is not None:
            self.saved = torch.get_num_threads()
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import sys
        if self.saved is not None:
            sys.modules["torch"].set_num_threads(self.saved)


def _need(module, why):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        pytest.skip(f"{module} is not installed ({why})")


# --------------------------------------------------------------------------- one epoch

def _fit_epoch(impl, model, X, y, optimizer, batch_size, seed, hyper):
    import fastgd
    if not isinstance(model, fastgd.MLP):
        raise TypeError(f"model: expected a fastgd.MLP, got {type(model).__name__}")
    if impl in ("fastgd", "reference"):
        return _fastgd_epoch(impl, model.copy(), X, y, optimizer, batch_size, seed, hyper)
    if impl == "torch":
        return _torch_epoch(model, X, y, optimizer, batch_size, seed, hyper)
    return _sklearn_epoch(model, X, y, optimizer, batch_size, seed, hyper)


def _fastgd_epoch(impl, model, X, y, optimizer, batch_size, seed, hyper):
    import fastgd
    lib = fastgd if impl == "fastgd" else fastgd.reference
    opt = _optimizer_class(impl, optimizer)(model.parameters(), **hyper)
    fit = lib.fit
    done = [0]

    def epoch():
        history = fit(model, X, y, opt, epochs=1, batch_size=batch_size, seed=seed,
                      initial_epoch=done[0])
        done[0] += 1
        return history.loss[-1]
    return epoch


def _optimizer_class(impl, name):
    if impl == "fastgd":
        from fastgd.optim import OPTIMIZERS as classes
    else:
        from fastgd.reference import OPTIMIZERS as classes
    if name not in classes:
        raise ValueError(f"optimizer: expected one of {sorted(classes)}, got {name!r}")
    return classes[name]


def _torch_epoch(model, X, y, optimizer, batch_size, seed, hyper):
    import numpy as np
    torch = _need("torch", "the PyTorch twin")
    opt_class = getattr(torch.optim, optimizer, None)
    if opt_class is None:
        pytest.skip(f"torch.optim has no {optimizer}")
    torch.manual_seed(seed)
    layers = []
    params = model.parameters()
    for i in range(model.n_layers):
        W, b = params[2 * i], params[2 * i + 1]
        linear = torch.nn.Linear(W.shape[0], W.shape[1], dtype=_torch_dtype(torch, W.dtype))
        with torch.no_grad():   # the same starting weights; torch's layout is (out, in)
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if i < model.n_layers - 1:
            layers.append(getattr(torch.nn, _TORCH_ACTIVATIONS[model.activation])())
    net = torch.nn.Sequential(*layers)
    opt = opt_class(net.parameters(), **hyper)
    tX = torch.from_numpy(np.ascontiguousarray(X, dtype=model.dtype))
    if model.output == "softmax":
        loss_fn, ty = torch.nn.CrossEntropyLoss(), torch.from_numpy(np.asarray(y, np.int64))
    else:
        loss_fn = (torch.nn.BCEWithLogitsLoss() if model.output == "sigmoid"
                   else torch.nn.MSELoss())
        ty = torch.from_numpy(np.asarray(y, model.dtype).reshape(len(X), -1))

    def epoch():
        perm = torch.randperm(len(tX))
        total = 0.0
        for s in range(0, len(perm), batch_size):
            idx = perm[s:s + batch_size]
            opt.zero_grad()
            loss = loss_fn(net(tX[idx]), ty[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        return total / len(perm)
    return epoch


def _torch_dtype(torch, dtype):
    return torch.float32 if dtype.itemsize == 4 else torch.float64


def _sklearn_epoch(model, X, y, optimizer, batch_size, seed, hyper):
    nn = _need("sklearn.neural_network", "the scikit-learn twin")
    activation = _SKLEARN_ACTIVATIONS.get(model.activation)
    solver = {"Adam": "adam", "SGD": "sgd"}.get(optimizer)
    if activation is None or solver is None or model.output == "sigmoid":
        pytest.skip(f"scikit-learn has no MLP with activation {model.activation!r}, "
                    f"output {model.output!r} and optimizer {optimizer}")
    unknown = set(hyper) - {"lr", "momentum", "betas", "eps"}
    if unknown:
        pytest.skip(f"scikit-learn's {solver} has no {sorted(unknown)}")
    options = {"learning_rate_init": hyper.get("lr", 1e-3)}
    if solver == "adam":
        options.update(zip(("beta_1", "beta_2"), hyper.get("betas", (0.9, 0.999))))
        options["epsilon"] = hyper.get("eps", 1e-8)
    else:
        options.update(momentum=hyper.get("momentum", 0.0), nesterovs_momentum=False)
    estimator = nn.MLPClassifier if model.output == "softmax" else nn.MLPRegressor
    clf = estimator(hidden_layer_sizes=tuple(model.layer_sizes[1:-1]), activation=activation,
                    solver=solver, batch_size=batch_size, max_iter=1, shuffle=True,
                    random_state=seed, tol=0.0, warm_start=True, **options)

    def epoch():
        import warnings
        from sklearn.exceptions import ConvergenceWarning
        with warnings.catch_warnings():   # max_iter=1 warns every epoch, by design
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)     # warm_start + max_iter=1: one more epoch
        return float(clf.loss_)
    return epoch


# --------------------------------------------------------------------------- one step

def _step(impl, params, grads, optimizer, hyper):
    import numpy as np
    params = [np.array(p, copy=True) for p in params]
    grads = [np.asarray(g) for g in grads]
    if len(params) != len(grads):
        raise ValueError(f"grads: expected {len(params)} arrays (one per parameter), "
                         f"got {len(grads)}")
    if impl in ("fastgd", "reference"):
        opt = _optimizer_class(impl, optimizer)(params, **hyper)
        return lambda: opt.step(grads)
    torch = _need("torch", "the PyTorch twin")
    opt_class = getattr(torch.optim, optimizer, None)
    if opt_class is None:
        pytest.skip(f"torch.optim has no {optimizer}")
    tensors = [torch.from_numpy(p).requires_grad_() for p in params]
    for t, g in zip(tensors, grads):
        t.grad = torch.from_numpy(np.array(g, copy=True))
    opt = opt_class(tensors, **hyper)
    return opt.step

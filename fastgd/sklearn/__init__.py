"""scikit-learn estimators trained by fastgd's C engine: drop-in ``MLPClassifier`` and
``MLPRegressor``.

Same parameter names, defaults and semantics as ``sklearn.neural_network``'s (see
``fastgd/sklearn/_base.py`` for where and why the numbers can differ), plus
``class_weight``, ``n_threads`` and fastgd's other update rules as extra ``solver``
values. Needs scikit-learn (``pip install fastgd[sklearn]``); ``import fastgd`` does not
import this package.
"""
try:
    import sklearn  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("fastgd.sklearn needs scikit-learn: pip install 'fastgd[sklearn]'") from e

from fastgd.sklearn._estimators import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]

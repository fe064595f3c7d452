"""scikit-learn regressors from a text VSM to L2-normalised factors (``text_sklearn`` rows).

* ``random_forest`` -- the paper's text-rf baseline (``RandomForestRegressor``,
  multi-output, sparse tf-idf input).
* ``ridge`` -- not in the paper: ridge regression, the strong simple baseline.
"""

from __future__ import annotations

import inspect
from typing import Any

KINDS = ("random_forest", "ridge")


def make_regressor(kind: str, seed: int | None = None, **kwargs: Any) -> Any:
    """An unfitted estimator of ``kind`` with ``kwargs`` as its arguments.

    ``seed`` becomes ``random_state`` when the estimator takes one.
    """
    if kind == "random_forest":
        from sklearn.ensemble import RandomForestRegressor as estimator_class
    elif kind == "ridge":
        from sklearn.linear_model import Ridge as estimator_class
    else:
        raise ValueError(f"model.kind must be one of {KINDS}, got {kind!r}")
    accepted = inspect.signature(estimator_class.__init__).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"{estimator_class.__name__} does not take {unknown}")
    if seed is not None and "random_state" in accepted and "random_state" not in kwargs:
        kwargs["random_state"] = int(seed)
    return estimator_class(**kwargs)

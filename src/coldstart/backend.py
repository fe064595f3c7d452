"""Which Keras backend runs the models: TensorFlow (the default), JAX or PyTorch.

Keras 3 reads ``KERAS_BACKEND`` once, when ``keras`` is first imported, and cannot
switch afterwards. The project imports Keras only inside the functions that train
or load a model, so a ``kedro run`` chooses the backend in
:class:`BackendHooks` (``after_context_created``, before any node or dataset
imports Keras) from the parameter ``keras_backend`` (``null``: the environment's
``KERAS_BACKEND``, else Keras' own default, TensorFlow)::

    KERAS_BACKEND=jax kedro run --env=test
    kedro run --env=test --params=keras_backend=jax

What differs between backends is handled here and in :mod:`coldstart.determinism`
(each backend's deterministic switch) and :mod:`coldstart.device` (scoring on the
backend's device); the model code itself is plain Keras. A backend that is not
installed, or a request that comes after Keras was already imported with another
backend, is refused with a message that says what to do.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

#: Backends the project supports, and the package each needs.
BACKENDS: dict[str, str] = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
ENV = "KERAS_BACKEND"
DEFAULT = "tensorflow"
_INSTALL = {
    "tensorflow": "pip install tensorflow (tensorflow[and-cuda] on a GPU machine)",
    "jax": "pip install jax (jax[cuda13] on a GPU machine)",
    "torch": "pip install torch (a CUDA wheel on a GPU machine)",
}

#: Backends that run end to end but whose results the project has not yet validated.
UNVALIDATED = {
    "torch": "trains, saves and scores end to end, but on the tiny world its content rows "
    "were not seen to beat random as on TensorFlow and JAX (docs/gpu.md); treat its "
    "tables as unvalidated",
}


class BackendError(RuntimeError):
    """The requested Keras backend cannot be used in this process."""


def normalise(name: str | None) -> str | None:
    """``"pytorch"`` -> ``"torch"``, lower case; ``None``/``""`` -> ``None``."""
    if name is None or not str(name).strip():
        return None
    value = str(name).strip().lower()
    value = "torch" if value == "pytorch" else value
    if value not in BACKENDS:
        raise BackendError(
            f"keras_backend must be one of {sorted(BACKENDS)} (or null), got {name!r}"
        )
    return value


def requested_backend(parameter: str | None = None) -> str:
    """The backend a run asks for: ``parameter``, else ``$KERAS_BACKEND``, else TensorFlow."""
    return normalise(parameter) or normalise(os.environ.get(ENV)) or DEFAULT


def select_backend(parameter: str | None = None) -> str:
    """Make ``parameter`` (or ``$KERAS_BACKEND``) the backend Keras will import with.

    Sets ``KERAS_BACKEND`` for this process and the processes it starts. Safe to
    call again with the same backend.

    Raises
    ------
    BackendError
        When the backend's package is not installed, or Keras is already imported
        with another backend (Keras cannot switch in a running process).
    """
    backend = requested_backend(parameter)
    if importlib.util.find_spec(BACKENDS[backend]) is None:
        raise BackendError(
            f"Keras backend {backend!r} requested but its package is not installed: "
            f"{_INSTALL[backend]}"
        )
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != backend:
            raise BackendError(
                f"Keras is already imported with the {current!r} backend; {backend!r} must be "
                f"chosen before the first `import keras` (set {ENV}={backend} in the environment)"
            )
    os.environ[ENV] = backend
    if backend in UNVALIDATED:
        logger.warning("Keras backend %s: %s", backend, UNVALIDATED[backend])
    return backend


def active_backend() -> str:
    """The backend of the imported Keras (imports Keras)."""
    import keras

    return keras.backend.backend()


def require_backend(feature: str, supported: tuple[str, ...]) -> None:
    """Refuse ``feature`` unless the active backend is one of ``supported``."""
    backend = active_backend()
    if backend not in supported:
        raise BackendError(
            f"{feature} is not available with the Keras backend {backend!r} "
            f"(supported: {', '.join(supported)}); run with {ENV}={supported[0]}"
        )


class BackendHooks:
    """Apply ``params:keras_backend`` before any node or dataset imports Keras."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        backend = select_backend(context.params.get("keras_backend"))
        logger.info("Keras backend: %s", backend)

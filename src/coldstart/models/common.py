"""Pieces shared by every content model: the factor head, the loss and the fit loop.

All content models of the paper predict L2-normalised latent factors: a linear
``Dense(n_factors)`` followed by L2 normalisation, trained with the cosine proximity
loss, Adam, mini-batches of 32 and early stopping on the validation loss.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def l2_normalise(matrix: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalisation in float32; all-zero rows stay zero."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, eps)


def gather_rows(matrix: Any, rows: np.ndarray) -> np.ndarray:
    """``matrix[rows]`` as a dense float32 array, for a NumPy or SciPy sparse matrix."""
    batch = matrix[rows]
    if hasattr(batch, "toarray"):
        batch = batch.toarray()
    return np.asarray(batch, dtype=np.float32)


def set_global_seed(seed: int) -> None:
    """Seed Python, NumPy and the Keras backend so a row is reproducible.

    Under ``deterministic: true`` (:mod:`coldstart.determinism`) the backend's
    deterministic kernels are switched on too (TensorFlow, JAX or PyTorch).
    """
    import keras

    from coldstart.determinism import deterministic_requested, enable_backend_determinism

    keras.utils.set_random_seed(int(seed))
    if deterministic_requested():
        enable_backend_determinism()


def factor_head(inputs: Any, n_factors: int, name: str = "factors") -> Any:
    """The paper's output layer: ``Dense(n_factors, linear)`` then L2 normalisation.

    ``UnitNormalization`` is a stock Keras layer, so saved models load with
    ``safe_mode=True`` (no Python lambdas).
    """
    import keras

    dense = keras.layers.Dense(n_factors, activation="linear", name=f"{name}_dense")(inputs)
    return keras.layers.UnitNormalization(axis=-1, name=name)(dense)


def compile_for_factors(model: Any, learning_rate: float = 1e-3, loss: Any = None) -> Any:
    """Compile with Adam and the cosine proximity loss (docs/architecture.md, protocol).

    ``loss`` replaces the cosine loss (the peer rows: DropoutNet's preference MSE,
    CLCRec's contrastive loss).
    """
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.CosineSimilarity(axis=-1) if loss is None else loss,
    )
    return model


class _EpochLogger:
    """Keras callback factory: one log line per epoch, ``epoch i/N``, elapsed and a bound.

    Early stopping usually ends training before ``N``, so the estimate is what is
    left *at most*, from the mean epoch time so far.
    """

    @staticmethod
    def make(model_name: str, epochs: int) -> Any:
        import time

        import keras

        class EpochLogger(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.started = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                done = epoch + 1
                elapsed = time.perf_counter() - self.started
                left = elapsed / done * max(epochs - done, 0)
                shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted(logs.items()))
                _stream_to_mlflow(model_name, logs, done)
                logger.info(
                    "%s epoch %d/%d (%s elapsed, at most %s left): %s",
                    model_name,
                    done,
                    epochs,
                    _duration(elapsed),
                    _duration(left),
                    shown,
                )

        return EpochLogger()


def _stream_to_mlflow(model_name: str, logs: dict, epoch: int) -> None:
    """Log an epoch's losses to the active MLflow run (the ``kedro run``'s) as it ends."""
    import mlflow

    if mlflow.active_run() is None:
        return
    mlflow.log_metrics(
        {f"training.{model_name}.{key}": float(value) for key, value in logs.items()}, step=epoch
    )


def _duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s`` or ``1 h 02 min``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def fit_to_factors(
    model: Any,
    train: Any,
    validation: Any,
    *,
    epochs: int = 100,
    patience: int = 4,
    batch_size: int = 32,
    verbose: int = 0,
    model_name: str = "model",
) -> dict[str, list[float]]:
    """Fit a compiled model with early stopping on the validation loss.

    Parameters
    ----------
    model
        A compiled Keras model.
    train, validation
        Either ``(x, y)`` tuples of arrays (lists of arrays for multi-input
        models) or Keras ``PyDataset`` / ``tf.data`` objects yielding batches.
    epochs, patience, batch_size
        Early stopping restores the weights of the best validation epoch.

    Returns
    -------
    dict
        The Keras history: ``{"loss": [...], "val_loss": [...]}`` per epoch.
    """
    import keras

    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=True
        ),
        _EpochLogger.make(model_name, epochs),
    ]
    if isinstance(train, tuple):
        x, y = train
        history = model.fit(
            x,
            y,
            validation_data=validation,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=True,
            callbacks=callbacks,
            verbose=verbose,
        )
    else:
        history = model.fit(
            train, validation_data=validation, epochs=epochs, callbacks=callbacks, verbose=verbose
        )
    return {key: [float(v) for v in values] for key, values in history.history.items()}


def train_factor_model(
    network: Any,
    train: Any,
    validation: Any,
    training: dict[str, Any],
    name: str,
    loss: Any = None,
) -> dict[str, Any]:
    """Compile and fit a content model as every row of the paper does, and log it.

    ``training`` holds ``learning_rate``, ``epochs``, ``patience``, ``batch_size`` and
    optionally ``verbose`` (defaults: the protocol in docs/architecture.md).
    ``train``/``validation`` are as in :func:`fit_to_factors`. Each epoch's losses
    stream into the active MLflow run as ``training.<name>.loss`` / ``.val_loss``.
    Returns the curves ``{"loss": [...], "val_loss": [...]}`` with ``train_seconds``,
    ``started_at_ms`` (epoch milliseconds) and ``n_params``.
    """
    import time

    compile_for_factors(
        network, learning_rate=float(training.get("learning_rate", 1e-3)), loss=loss
    )
    started_at_ms = int(time.time() * 1000)
    started = time.perf_counter()
    history = fit_to_factors(
        network,
        train,
        validation,
        epochs=int(training.get("epochs", 100)),
        patience=int(training.get("patience", 4)),
        batch_size=int(training.get("batch_size", 32)),
        verbose=int(training.get("verbose", 0)),
        model_name=name,
    )
    seconds = time.perf_counter() - started
    losses = history.get("val_loss") or [float("nan")]
    logger.info(
        "%s: %d epochs in %.1f s, best val_loss %.4f at epoch %d",
        name,
        len(history.get("loss", [])),
        seconds,
        min(losses),
        int(np.argmin(losses)) + 1,
    )
    return {
        "loss": history.get("loss", []),
        "val_loss": history.get("val_loss", []),
        # what the row's MLflow run reports beside the curves (its duration covers training)
        "train_seconds": round(seconds, 3),
        "started_at_ms": started_at_ms,
        "n_params": int(network.count_params()),
    }

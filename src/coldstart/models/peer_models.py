"""Networks and batch feeds of the peer rows: DropoutNet and CLCRec (docs/peers.md).

* DropoutNet (Volkovs, Yu, Poutanen, NeurIPS 2017): the item network reads the
  item's CF factors *and* its content, and is trained with the CF input dropped
  (set to zeros) for a share of the samples, so that it learns to serve an item
  from content alone; a cold item is served with a zero CF input.
* CLCRec (Wei et al., ACM MM 2021): a content encoder trained with a contrastive
  (InfoNCE) loss that pulls each item's content representation towards its own
  CF embedding and away from the other items' in the batch.

Both are plain Keras functional models (Dense, Concatenate, UnitNormalization), so
the saved ``.keras`` files load with ``safe_mode`` on; their training losses live
in training-only wrappers that are never saved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np

from coldstart.models.common import gather_rows

#: Name of DropoutNet's CF input (the item's WMF factors; zeros for a cold item).
CF_INPUT = "cf_input"
#: Name of the output layer of both networks (the item's predicted factors).
FACTORS_LAYER = "item_factors"


def preference_projection(user_factors: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """``L`` with ``L Lᵀ = UᵀU / mean eigenvalue``: DropoutNet's loss as a plain MSE.

    DropoutNet fits ``f(v)`` so that every user's predicted preference ``u·f(v)``
    matches ``u·v`` (the WMF score). With the users' factors ``U`` fixed, the sum of
    squared errors over all users is ``(v - f)ᵀ UᵀU (v - f) = ‖(v - f) L‖²``, so the
    network is trained with an MSE between ``f L`` and ``v L``: the exact
    preference-reconstruction loss over all users, without sampling user-item pairs.
    The scale is divided out (mean eigenvalue 1), which leaves the minimiser unchanged.
    """
    users = np.asarray(user_factors, dtype=np.float64)
    if users.ndim != 2 or users.shape[0] == 0:
        raise ValueError(f"user factors must be a non-empty 2-d matrix, got shape {users.shape}")
    gram = users.T @ users
    values, vectors = np.linalg.eigh(gram)
    values = np.clip(values, 0.0, None)
    scale = max(float(values.mean()), eps)
    return (vectors * np.sqrt(values / scale)).astype(np.float32)


def _dense_stack(x: Any, units: Sequence[int], activation: str, dropout: float, prefix: str) -> Any:
    import keras

    for i, width in enumerate(units):
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"{prefix}_dropout_{i}")(x)
        x = keras.layers.Dense(int(width), activation=activation, name=f"{prefix}_dense_{i}")(x)
    return x


def build_dropoutnet(
    content_dims: Mapping[str, int],
    n_factors: int,
    *,
    content_units: int = 512,
    hidden_units: Sequence[int] = (800, 400),
    activation: str = "tanh",
) -> Any:
    """DropoutNet's item network: ``[CF input, transformed content] -> tanh MLP -> factors``.

    Each content input (``content_dims``: name -> width) first goes through its own
    ``Dense(content_units)`` (the paper's content transform), then is concatenated
    with the CF input (``n_factors`` wide) and passed through ``hidden_units`` tanh
    layers to a linear ``item_factors`` layer of ``n_factors`` units.
    """
    import keras

    if not content_dims:
        raise ValueError("DropoutNet needs at least one content input")
    cf = keras.Input(shape=(int(n_factors),), name=CF_INPUT)
    contents = {
        name: keras.Input(shape=(int(dim),), name=name) for name, dim in content_dims.items()
    }
    transformed = [
        keras.layers.Dense(int(content_units), activation=activation, name=f"{name}_transform")(x)
        for name, x in contents.items()
    ]
    x = keras.layers.Concatenate(name="cf_and_content")([cf, *transformed])
    x = _dense_stack(x, hidden_units, activation, 0.0, "dropoutnet")
    out = keras.layers.Dense(int(n_factors), activation="linear", name=FACTORS_LAYER)(x)
    return keras.Model([cf, *contents.values()], out, name="dropoutnet")


def with_fixed_projection(network: Any, projection: np.ndarray) -> Any:
    """``network`` followed by a frozen ``Dense`` holding ``projection`` (training only)."""
    import keras

    k_in, k_out = projection.shape
    head = keras.layers.Dense(int(k_out), use_bias=False, trainable=False, name="preference")
    outputs = head(network.outputs[0])
    head.set_weights([np.asarray(projection, dtype=np.float32)])
    if network.output_shape[-1] != k_in:
        raise ValueError(
            f"projection expects {k_in} factors, the network outputs {network.output_shape[-1]}"
        )
    return keras.Model(network.inputs, outputs, name=f"{network.name}_training")


def for_training(network: Any) -> Any:
    """A model sharing ``network``'s layers, to compile with a training-only loss.

    The saved ``network`` then carries no compile configuration naming a custom loss
    (which ``safe_mode`` loading could not resolve).
    """
    import keras

    return keras.Model(network.inputs, network.outputs, name=f"{network.name}_training")


def build_content_encoder(
    content_dims: Mapping[str, int],
    n_factors: int,
    *,
    hidden_units: Sequence[int] = (1024,),
    dropout: float = 0.5,
    activation: str = "relu",
) -> Any:
    """CLCRec's item content encoder: concatenated content -> MLP -> L2-normalised factors."""
    import keras

    if not content_dims:
        raise ValueError("the content encoder needs at least one content input")
    contents = {
        name: keras.Input(shape=(int(dim),), name=name) for name, dim in content_dims.items()
    }
    inputs = list(contents.values())
    x = inputs[0] if len(inputs) == 1 else keras.layers.Concatenate(name="content")(inputs)
    x = _dense_stack(x, hidden_units, activation, float(dropout), "encoder")
    if dropout > 0:
        x = keras.layers.Dropout(float(dropout), name="encoder_dropout_out")(x)
    x = keras.layers.Dense(int(n_factors), activation="linear", name=f"{FACTORS_LAYER}_dense")(x)
    out = keras.layers.UnitNormalization(axis=-1, name=FACTORS_LAYER)(x)
    return keras.Model(inputs, out, name="clcrec_encoder")


def info_nce_loss(temperature: float) -> Any:
    """CLCRec's item-level contrastive loss over a batch (in-batch negatives).

    ``y_true`` holds the batch's L2-normalised CF factors, ``y_pred`` the encoder's
    L2-normalised content representations; item ``i``'s positive is its own CF
    factor, its negatives the other items' of the batch.
    """
    import keras

    tau = float(temperature)
    if tau <= 0:
        raise ValueError(f"the contrastive temperature must be positive, got {tau}")

    def info_nce(y_true: Any, y_pred: Any) -> Any:
        logits = keras.ops.matmul(y_pred, keras.ops.transpose(y_true)) / tau
        labels = keras.ops.arange(keras.ops.shape(logits)[0])
        return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)

    return info_nce


@cache
def _item_batches_class() -> type:
    import keras

    class ItemBatches(keras.utils.PyDataset):
        """Batches gathering each sample's rows, with the CF input dropped at ``drop_rate``.

        ``inputs``: ``{name: (matrix, rows)}``; sample ``i`` of input ``name`` reads
        ``matrix[rows[i]]`` (dense or SciPy sparse, densified per batch). The input
        named :data:`CF_INPUT`, when present, is zeroed for each sample with
        probability ``drop_rate``, redrawn every epoch from ``seed`` (DropoutNet).
        """

        def __init__(
            self,
            inputs: Mapping[str, tuple[Any, np.ndarray]],
            targets: np.ndarray | None,
            batch_size: int,
            shuffle: bool,
            seed: int,
            drop_rate: float,
        ) -> None:
            super().__init__()
            if not 0.0 <= drop_rate <= 1.0:
                raise ValueError(f"the CF dropout rate must be in [0, 1], got {drop_rate}")
            self.inputs = {n: (m, np.asarray(r, dtype=np.int64)) for n, (m, r) in inputs.items()}
            sizes = {len(r) for _, r in self.inputs.values()}
            if len(sizes) != 1 or (targets is not None and len(targets) not in sizes):
                raise ValueError("every input (and the targets) needs one row index per sample")
            self.n_samples = sizes.pop()
            if not self.n_samples:
                raise ValueError("no samples to batch")
            self.targets = None if targets is None else np.asarray(targets, dtype=np.float32)
            self.batch_size = int(batch_size)
            self.shuffle = shuffle
            self.drop_rate = float(drop_rate)
            self._rng = np.random.default_rng(seed)
            self._order = np.arange(self.n_samples)
            self._dropped = np.zeros(self.n_samples, dtype=bool)
            self.on_epoch_end()

        def __len__(self) -> int:
            return -(-self.n_samples // self.batch_size)

        def __getitem__(self, index: int) -> Any:
            samples = self._order[index * self.batch_size : (index + 1) * self.batch_size]
            x = {name: gather_rows(m, rows[samples]) for name, (m, rows) in self.inputs.items()}
            if CF_INPUT in x:
                x[CF_INPUT][self._dropped[samples]] = 0.0
            return (x,) if self.targets is None else (x, self.targets[samples])

        def on_epoch_end(self) -> None:
            if self.shuffle:
                self._rng.shuffle(self._order)
            if self.drop_rate >= 1.0:
                self._dropped[:] = True
            elif self.drop_rate > 0.0:
                self._dropped = self._rng.random(self.n_samples) < self.drop_rate

    return ItemBatches


def item_batches(
    inputs: Mapping[str, tuple[Any, np.ndarray]],
    targets: np.ndarray | None = None,
    *,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    drop_rate: float = 0.0,
) -> Any:
    """A Keras ``PyDataset`` over items (see ``ItemBatches``); ``drop_rate`` zeroes CF inputs."""
    return _item_batches_class()(inputs, targets, batch_size, shuffle, seed, drop_rate)

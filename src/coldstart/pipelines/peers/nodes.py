"""Nodes of the peer rows (docs/peers.md): DropoutNet, CLCRec, cmfrec's CMF and LightFM.

As every other row, each trains on the train items, picks what it tunes on the val
items and predicts the test items (the last block of ``artists`` / ``songs``). The
val and test items are cold: nothing of their plays or factors reaches a model.

* DropoutNet and CLCRec learn from the WMF item factors of the train items (the
  same targets as the paper's rows); at artist level their content is a VSM (tags,
  enriched biography), at song level A' of the song's artist and T' of the song.
* CMF (cmfrec) and LightFM factorise the train artists' plays themselves, with the
  artists' attributes as side information, and give their own user factors.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldstart.models.common import l2_normalise, set_global_seed, train_factor_model
from coldstart.progress import ProgressLog
from coldstart.text.features import split_rows

logger = logging.getLogger(__name__)

PREDICT_BATCH_SIZE = 256
#: Name of the content input of the artist-level networks (the artist VSM).
ARTIST_CONTENT = "content"
#: Names of the content inputs of the song-level networks (A' of the artist, T' of the song).
SONG_ARTIST_CONTENT = "artist_content"
SONG_TRACK_CONTENT = "track_content"


# --------------------------------------------------------------------------- helpers


def _name(row: dict[str, Any] | None, default: str) -> str:
    return str((row or {}).get("approach", default))


def _factors(matrix: np.ndarray, n_items: int, what: str) -> np.ndarray:
    factors = np.asarray(matrix, dtype=np.float32)
    if factors.ndim != 2 or factors.shape[0] != n_items:
        raise ValueError(f"{what} has shape {factors.shape}; expected one row per item ({n_items})")
    return factors


def _artist_rows(artists: pd.DataFrame) -> dict[str, np.ndarray]:
    rows = split_rows(artists)
    for split in ("train", "val", "test"):
        if not len(rows[split]):
            raise ValueError(f"No {split} artists: the peer rows need train, val and test artists")
    return rows


def _artist_content(features: Any, artists: pd.DataFrame) -> Any:
    if features.shape[0] != len(artists):
        raise ValueError(
            f"features has {features.shape[0]} rows; expected one per artist ({len(artists)})"
        )
    return (
        sp.csr_matrix(features, dtype=np.float32)
        if sp.issparse(features)
        else np.asarray(features, np.float32)
    )


def _song_content(
    artist_embeddings: np.ndarray,
    track_embeddings: np.ndarray,
    artists: pd.DataFrame,
    songs: pd.DataFrame,
    samples: np.ndarray,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Inputs of the song networks for ``samples``: A' of each song's artist, T' of the song."""
    from coldstart.pipelines.fusion.nodes import (
        _check_artist_matrix,
        _check_song_matrix,
        song_artist_rows,
    )

    artist_embeddings = _check_artist_matrix(
        np.asarray(artist_embeddings), artists, "artist_embeddings"
    )
    track_embeddings = _check_song_matrix(track_embeddings, songs, "track_embeddings")
    owner = song_artist_rows(songs, artists)
    return {
        SONG_ARTIST_CONTENT: (artist_embeddings, owner[samples]),
        SONG_TRACK_CONTENT: (track_embeddings, samples),
    }


def _content_dims(inputs: dict[str, tuple[Any, np.ndarray]]) -> dict[str, int]:
    return {name: int(matrix.shape[1]) for name, (matrix, _) in inputs.items()}


def _predict(model: Any, inputs: dict[str, tuple[Any, np.ndarray]]) -> np.ndarray:
    from coldstart.models.peer_models import item_batches

    batches = item_batches(inputs, None, batch_size=PREDICT_BATCH_SIZE)
    return np.asarray(model.predict(batches, verbose=0), dtype=np.float32)


# --------------------------------------------------------------------------- DropoutNet


def dropout_grid(model: dict[str, Any]) -> list[float]:
    """The CF dropout rates tried (``model.dropout_rates``), each in [0, 1]."""
    rates = [float(rate) for rate in model.get("dropout_rates", [0.5])]
    if not rates or any(not 0.0 <= rate <= 1.0 for rate in rates):
        raise ValueError(f"model.dropout_rates must be rates in [0, 1], got {rates}")
    return rates


def cold_inputs(
    content: dict[str, tuple[Any, np.ndarray]], n_factors: int
) -> dict[str, tuple[Any, np.ndarray]]:
    """``content`` plus an all-zero CF input: how DropoutNet serves a cold item."""
    from coldstart.models.peer_models import CF_INPUT

    n_samples = len(next(iter(content.values()))[1])
    zeros = np.zeros((1, int(n_factors)), dtype=np.float32)
    return {CF_INPUT: (zeros, np.zeros(n_samples, dtype=np.int64)), **content}


def _cf_width(model: Any) -> int:
    from coldstart.models.peer_models import CF_INPUT

    widths = {tensor.name: int(tensor.shape[-1]) for tensor in model.inputs}
    if CF_INPUT not in widths:
        raise ValueError(f"the model has no '{CF_INPUT}' input (inputs: {sorted(widths)})")
    return widths[CF_INPUT]


def train_dropoutnet(
    content: dict[str, dict[str, tuple[Any, np.ndarray]]],
    item_factors: np.ndarray,
    user_factors: np.ndarray,
    rows: dict[str, np.ndarray],
    model: dict[str, Any],
    training: dict[str, Any],
    seed: int,
    name: str,
) -> tuple[Any, dict[str, Any]]:
    """Train DropoutNet once per CF dropout rate; keep the network of the best val loss.

    Parameters
    ----------
    content
        ``{"train": inputs, "val": inputs}``, inputs = ``{name: (matrix, rows)}`` of
        the content of each sample of the split.
    item_factors, user_factors
        The WMF factors (rows = items, users). The CF input of a train item is its
        factor row, dropped (zeros) with the rate being tried; val items are
        always served cold (zero CF input), so the val loss is the cold-start loss
        the rate is chosen by.

    Returns
    -------
    tuple
        The item network (inputs ``cf_input`` and the content; output the item's
        factors, scaled by ``1 / cf_scale``) and the history of the chosen rate,
        with ``dropout_rate``, ``cf_scale`` and every rate's best val loss.
    """
    from coldstart.models.peer_models import (
        CF_INPUT,
        build_dropoutnet,
        item_batches,
        preference_projection,
        with_fixed_projection,
    )

    train, val = rows["train"], rows["val"]
    factors = np.asarray(item_factors, dtype=np.float32)
    # one global scale: the network sees unit-sized factors; a user's ranking is unchanged
    cf_scale = float(np.sqrt(np.mean(np.square(factors[train])))) or 1.0
    scaled = factors / cf_scale
    projection = preference_projection(user_factors)
    targets = scaled @ projection
    n_factors = factors.shape[1]
    batch_size = int(training.get("batch_size", 32))
    grid: dict[str, float] = {}
    best: tuple[float, Any, dict[str, Any]] | None = None
    for rate in dropout_grid(model):
        set_global_seed(int(seed))
        network = build_dropoutnet(
            _content_dims(content["train"]),
            n_factors,
            content_units=int(model.get("content_units", 512)),
            hidden_units=model.get("hidden_units", (800, 400)),
            activation=str(model.get("activation", "tanh")),
        )
        train_batches = item_batches(
            {CF_INPUT: (scaled, train), **content["train"]},
            targets[train],
            batch_size=batch_size,
            shuffle=True,
            seed=int(seed),
            drop_rate=rate,
        )
        val_batches = item_batches(
            {CF_INPUT: (scaled, val), **content["val"]},
            targets[val],
            batch_size=batch_size,
            seed=int(seed) + 1,
            drop_rate=1.0,
        )
        logger.info(
            "%s: CF dropout %.2f, training on %d items, cold val on %d",
            name,
            rate,
            len(train),
            len(val),
        )
        history = train_factor_model(
            with_fixed_projection(network, projection),
            train_batches,
            val_batches,
            training,
            f"{name}/cf-dropout-{rate:g}",
            loss="mean_squared_error",
        )
        val_loss = min(history["val_loss"]) if history["val_loss"] else float("inf")
        grid[f"{rate:g}"] = float(val_loss)
        if best is None or val_loss < best[0]:
            best = (val_loss, network, {**history, "dropout_rate": rate})
    assert best is not None
    _, network, history = best
    logger.info(
        "%s: CF dropout rate %g chosen by cold val loss (%s)",
        name,
        history["dropout_rate"],
        ", ".join(f"{r}: {v:.4f}" for r, v in grid.items()),
    )
    return network, {**history, "cf_scale": cf_scale, "dropout_grid_val_loss": grid}


def train_dropoutnet_artists(
    features: Any,
    artists: pd.DataFrame,
    artist_item_factors: np.ndarray,
    artist_user_factors: np.ndarray,
    model: dict[str, Any],
    training: dict[str, Any],
    seed: int,
    row: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """DropoutNet at artist level: [WMF factors, artist VSM] -> artist factors."""
    rows = _artist_rows(artists)
    content = _artist_content(features, artists)
    factors = _factors(artist_item_factors, len(artists), "artist_item_factors")
    return train_dropoutnet(
        {split: {ARTIST_CONTENT: (content, rows[split])} for split in ("train", "val")},
        factors,
        artist_user_factors,
        rows,
        model,
        training,
        seed,
        _name(row, "dropoutnet"),
    )


def predict_dropoutnet_artists(model: Any, features: Any, artists: pd.DataFrame) -> np.ndarray:
    """Test artists' factors from their content alone (zero CF input); not normalised."""
    test = _artist_rows(artists)["test"]
    content = {ARTIST_CONTENT: (_artist_content(features, artists), test)}
    return _predict(model, cold_inputs(content, _cf_width(model)))


def train_dropoutnet_songs(
    artist_embeddings: np.ndarray,
    track_embeddings: np.ndarray,
    artists: pd.DataFrame,
    songs: pd.DataFrame,
    song_item_factors: np.ndarray,
    song_user_factors: np.ndarray,
    model: dict[str, Any],
    training: dict[str, Any],
    seed: int,
    row: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """DropoutNet at song level: [WMF song factors, A' of the artist, T' of the song] -> factors."""
    from coldstart.pipelines.fusion.nodes import song_split_rows

    rows = song_split_rows(songs)
    factors = _factors(song_item_factors, len(songs), "song_item_factors")
    content = {
        split: _song_content(artist_embeddings, track_embeddings, artists, songs, rows[split])
        for split in ("train", "val")
    }
    return train_dropoutnet(
        content, factors, song_user_factors, rows, model, training, seed, _name(row, "dropoutnet")
    )


def predict_dropoutnet_songs(
    model: Any,
    artist_embeddings: np.ndarray,
    track_embeddings: np.ndarray,
    artists: pd.DataFrame,
    songs: pd.DataFrame,
) -> np.ndarray:
    """Test songs' factors from A' and T' alone (zero CF input); not normalised."""
    from coldstart.pipelines.fusion.nodes import song_split_rows

    test = song_split_rows(songs)["test"]
    content = _song_content(artist_embeddings, track_embeddings, artists, songs, test)
    return _predict(model, cold_inputs(content, _cf_width(model)))


# --------------------------------------------------------------------------- CLCRec


def train_clcrec(
    content: dict[str, dict[str, tuple[Any, np.ndarray]]],
    item_factors: np.ndarray,
    rows: dict[str, np.ndarray],
    model: dict[str, Any],
    training: dict[str, Any],
    seed: int,
    name: str,
) -> tuple[Any, dict[str, Any]]:
    """Train CLCRec's content encoder with the item-level contrastive loss.

    Each batch pairs the items' content representations with their L2-normalised
    WMF factors; an item's own factor is its positive and the batch's other items'
    factors its negatives (``model.temperature``). Early stopping on the val
    items' contrastive loss.
    """
    from coldstart.models.peer_models import (
        build_content_encoder,
        for_training,
        info_nce_loss,
        item_batches,
    )

    targets = l2_normalise(np.asarray(item_factors, dtype=np.float32))
    set_global_seed(int(seed))
    network = build_content_encoder(
        _content_dims(content["train"]),
        targets.shape[1],
        hidden_units=model.get("hidden_units", (1024,)),
        dropout=float(model.get("dropout", 0.5)),
        activation=str(model.get("activation", "relu")),
    )
    batch_size = int(training.get("batch_size", 256))
    batches = {
        split: item_batches(
            content[split],
            targets[rows[split]],
            batch_size=batch_size,
            shuffle=split == "train",
            seed=int(seed) + offset,
        )
        for offset, split in enumerate(("train", "val"))
    }
    logger.info(
        "%s: contrastive training on %d items (batches of %d), early stopping on %d",
        name,
        len(rows["train"]),
        batch_size,
        len(rows["val"]),
    )
    history = train_factor_model(
        # compiled in a wrapper sharing the encoder's layers: the saved encoder carries
        # no custom loss, so it loads with safe_mode on
        for_training(network),
        batches["train"],
        batches["val"],
        training,
        name,
        loss=info_nce_loss(float(model.get("temperature", 0.1))),
    )
    return network, history


def train_clcrec_artists(
    features: Any,
    artists: pd.DataFrame,
    artist_item_factors: np.ndarray,
    model: dict[str, Any],
    training: dict[str, Any],
    seed: int,
    row: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """CLCRec at artist level: the artist VSM -> encoder, contrasted with the WMF factors."""
    rows = _artist_rows(artists)
    content = _artist_content(features, artists)
    factors = _factors(artist_item_factors, len(artists), "artist_item_factors")
    return train_clcrec(
        {split: {ARTIST_CONTENT: (content, rows[split])} for split in ("train", "val")},
        factors,
        rows,
        model,
        training,
        seed,
        _name(row, "clcrec"),
    )


def predict_clcrec_artists(model: Any, features: Any, artists: pd.DataFrame) -> np.ndarray:
    """L2-normalised content representations of the test artists."""
    test = _artist_rows(artists)["test"]
    return l2_normalise(
        _predict(model, {ARTIST_CONTENT: (_artist_content(features, artists), test)})
    )


def train_clcrec_songs(
    artist_embeddings: np.ndarray,
    track_embeddings: np.ndarray,
    artists: pd.DataFrame,
    songs: pd.DataFrame,
    song_item_factors: np.ndarray,
    model: dict[str, Any],
    training: dict[str, Any],
    seed: int,
    row: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """CLCRec at song level: A' of the artist and T' of the song -> encoder."""
    from coldstart.pipelines.fusion.nodes import song_split_rows

    rows = song_split_rows(songs)
    factors = _factors(song_item_factors, len(songs), "song_item_factors")
    content = {
        split: _song_content(artist_embeddings, track_embeddings, artists, songs, rows[split])
        for split in ("train", "val")
    }
    return train_clcrec(content, factors, rows, model, training, seed, _name(row, "clcrec"))


def predict_clcrec_songs(
    model: Any,
    artist_embeddings: np.ndarray,
    track_embeddings: np.ndarray,
    artists: pd.DataFrame,
    songs: pd.DataFrame,
) -> np.ndarray:
    """L2-normalised content representations of the test songs."""
    from coldstart.pipelines.fusion.nodes import song_split_rows

    test = song_split_rows(songs)["test"]
    return l2_normalise(
        _predict(model, _song_content(artist_embeddings, track_embeddings, artists, songs, test))
    )


# --------------------------------------------------------------------------- CMF (cmfrec), LightFM


def _train_plays(artist_plays: Any, artists: pd.DataFrame, train: np.ndarray) -> sp.csr_matrix:
    plays = sp.csr_matrix(artist_plays, dtype=np.float32)
    if plays.shape[1] != len(artists):
        raise ValueError(
            f"artist_plays has {plays.shape[1]} columns, expected one per artist ({len(artists)})"
        )
    return plays[:, train]


def collective_mf_factors(
    features: Any,
    artist_plays: Any,
    artists: pd.DataFrame,
    model: dict[str, Any],
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """cmfrec's implicit collective MF: train artists' plays + every artist's attributes.

    ``CMF_implicit`` factorises the users x train-artists play matrix jointly with
    the train artists' attribute matrix (``features``: tags or biography VSM), so
    the item factors are tied to what the attributes can explain. A test artist's
    factors come from its attributes alone (cmfrec's cold-start solve). ``model`` holds
    ``CMF_implicit`` arguments (``k``, ``lambda_``, ``w_main``, ``w_item``,
    ``niter``, ...).

    Returns
    -------
    tuple
        User factors (``n_users x k``) and the test artists' factors (``n_test x k``),
        scored by their plain dot product (the row sets ``normalize_items: false``).
    """
    from cmfrec import CMF_implicit

    rows = _artist_rows(artists)
    train, test = rows["train"], rows["test"]
    plays = _train_plays(artist_plays, artists, train).tocoo()
    attributes = sp.csr_matrix(_artist_content(features, artists), dtype=np.float64)
    # a VSM's zeros are values (no such word), not missing entries
    arguments = {"k": 50, "niter": 10, "NA_as_zero_item": True, **model}
    estimator = CMF_implicit(random_state=int(seed), verbose=False, nthreads=-1, **arguments)
    started = time.perf_counter()
    logger.info(
        "CMF (cmfrec): %d users x %d train artists (%d plays), %d attributes, %s",
        plays.shape[0],
        plays.shape[1],
        plays.nnz,
        attributes.shape[1],
        arguments,
    )
    estimator.fit(X=plays, I=attributes[train].tocoo())
    user_factors = np.asarray(estimator.A_, dtype=np.float32)
    if user_factors.shape[0] != plays.shape[0]:
        raise ValueError(
            f"CMF returned {user_factors.shape[0]} users, expected {plays.shape[0]} "
            "(a user without any train play must still be a row)"
        )
    # cold items from their attributes alone: cmfrec's cold-start solve, one item at a time
    cold = attributes[test].tocsr()
    test_factors = np.vstack(
        [
            estimator.item_factors_cold(I=cold[i].toarray().ravel())
            if cold[i].nnz == 0
            else estimator.item_factors_cold(I_col=cold[i].indices, I_val=cold[i].data)
            for i in range(cold.shape[0])
        ]
    ).astype(np.float32)
    logger.info(
        "CMF (cmfrec): fitted in %.1f s; %d test artists from their attributes",
        time.perf_counter() - started,
        len(test_factors),
    )
    return user_factors, test_factors


def _lightfm_threads(training: dict[str, Any]) -> int:
    """``training.num_threads``: 1 (reproducible), N, or 0 for every core this process may use."""
    from coldstart.cores import available_cores

    threads = int(training.get("num_threads", 1))
    if threads < 0:
        raise ValueError(f"lightfm training.num_threads must be >= 0 (0: all cores), got {threads}")
    return threads or available_cores()


def lightfm_factors(
    features: Any,
    artist_plays: Any,
    artists: pd.DataFrame,
    model: dict[str, Any],
    training: dict[str, Any],
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """LightFM (WARP) on the train artists' plays with the artists' attributes as features.

    Items are represented by their attributes only (no per-artist identity
    feature), so a test artist's embedding and bias are the sums of its
    attributes'. Training runs up to ``training.epochs`` epochs; with
    ``training.patience`` it stops once the val artists' MAP@``training.val_k``
    (the val artists are cold, scored from their attributes, against their plays)
    has not improved for that many epochs, and keeps the best epoch -- as the
    Keras rows stop on their val loss. Returns user factors ``[user embedding, 1]``
    and test item factors ``[item embedding, item bias]``: their dot product is
    LightFM's score up to the user's own bias, which does not change a user's
    ranking.
    """
    from lightfm import LightFM

    from coldstart.metrics import evaluate_factors

    rows = _artist_rows(artists)
    train, val, test = rows["train"], rows["val"], rows["test"]
    plays = _train_plays(artist_plays, artists, train)
    plays.data[:] = 1.0  # WARP ranks observed (played) artists above unobserved ones
    attributes = sp.csr_matrix(_artist_content(features, artists), dtype=np.float32)
    estimator = LightFM(random_state=int(seed), **model)
    epochs = int(training.get("epochs", 30))
    patience = training.get("patience")
    val_k = int(training.get("val_k", 500))
    threads = _lightfm_threads(training)
    val_plays = sp.csr_matrix(artist_plays, dtype=np.float32)[:, val]
    val_users = np.flatnonzero(np.diff(val_plays.indptr))
    logger.info(
        "LightFM: %d users x %d train artists (%d plays), %d attributes, up to %d epochs%s, "
        "%d thread(s)",
        plays.shape[0],
        plays.shape[1],
        plays.nnz,
        attributes.shape[1],
        epochs,
        "" if patience is None else f" (patience {patience} on val MAP@{val_k})",
        threads,
    )

    def representations(items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, user_embedding = estimator.get_user_representations()
        item_bias, item_embedding = estimator.get_item_representations(attributes[items])
        ones = np.ones((len(user_embedding), 1), dtype=np.float32)
        return (
            np.hstack([user_embedding, ones]).astype(np.float32),
            np.hstack([item_embedding, item_bias[:, None]]).astype(np.float32),
        )

    started = time.perf_counter()
    interactions, item_features = plays.tocoo(), attributes[train]
    best: tuple[float, int, tuple[np.ndarray, np.ndarray]] | None = None
    # one epoch a call, so the log says how far it is: fit_partial continues the same
    # random stream, so without patience this is fit(epochs=...) to the bit
    # (tests/test_peers_units.py)
    with ProgressLog(epochs, "LightFM", unit="epochs", logger=logger) as progress:
        for epoch in range(1, epochs + 1):
            estimator.fit_partial(
                interactions, item_features=item_features, epochs=1, num_threads=threads
            )
            progress.advance()
            if patience is None or not len(val_users):
                continue
            user_factors, val_factors = representations(val)
            val_map = float(
                evaluate_factors(
                    user_factors,
                    val_factors,
                    val_plays,
                    k=val_k,
                    normalize_items=False,
                    users=val_users,
                    log_progress=None,
                ).user_ap.mean()
            )
            logger.info("LightFM: epoch %d, val MAP@%d %.5f", epoch, val_k, val_map)
            if best is None or val_map > best[0]:
                best = (val_map, epoch, representations(test))
            elif epoch - best[1] >= int(patience):
                logger.info(
                    "LightFM: no val improvement for %d epochs; keeping epoch %d", patience, best[1]
                )
                break
    user_factors, test_factors = representations(test) if best is None else best[2]
    logger.info("LightFM: fitted in %.1f s", time.perf_counter() - started)
    return user_factors, test_factors

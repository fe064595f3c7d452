"""Nodes of the fusion pipeline: the song-level rows of Table 2 (paper §5, §6.3).

Every model maps content to the L2-normalised WMF song factors
(``song_item_factors``, rows = ``songs.item_idx``): it trains on the train songs,
early-stops on the val songs and predicts the test songs, returned in ``songs``
order (the last block of ``songs``). Artist-level inputs (a VSM, A', random
embeddings; rows = ``artists.item_idx``) are broadcast to songs by each song's
``artist_id``, one batch at a time.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from coldstart.models.common import l2_normalise, set_global_seed, train_factor_model
from coldstart.text.features import order_by_item_idx

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
#: ``training.sample_form`` of the song FF rows: one sample per artist (the default) or per song.
SAMPLE_FORMS = ("artist", "song")
#: ``row.features`` values whose artist input is a VSM built here.
VSM_FEATURES = ("enriched", "tags")
PREDICT_BATCH_SIZE = 256


# --------------------------------------------------------------------------- helpers


def order_songs(songs: pd.DataFrame) -> pd.DataFrame:
    """``songs`` sorted by ``item_idx``, checked to be exactly ``0..n-1`` with known splits."""
    missing = {"song_id", "artist_id", "split", "item_idx"} - set(songs.columns)
    if missing:
        raise ValueError(f"`songs` lacks columns {sorted(missing)}")
    ordered = songs.sort_values("item_idx", kind="stable").reset_index(drop=True)
    if not np.array_equal(ordered["item_idx"].to_numpy(), np.arange(len(ordered))):
        raise ValueError("`songs.item_idx` must be exactly 0..n_songs-1 (one row per song)")
    unknown = set(ordered["split"].unique()) - set(SPLITS)
    if unknown:
        raise ValueError(f"`songs.split` has unknown values {sorted(unknown)}")
    return ordered


def song_split_rows(songs: pd.DataFrame) -> dict[str, np.ndarray]:
    """``{"train": item_idx array, "val": ..., "test": ...}`` in ``item_idx`` order.

    Raises when a split has no song: the models need all three.
    """
    ordered = order_songs(songs)
    rows = {
        split: ordered.loc[ordered["split"] == split, "item_idx"].to_numpy(dtype=np.int64)
        for split in SPLITS
    }
    for split, idx in rows.items():
        if not len(idx):
            raise ValueError(
                f"No {split} songs: the song-level models need train, val and test songs"
            )
    return rows


def song_artist_rows(songs: pd.DataFrame, artists: pd.DataFrame) -> np.ndarray:
    """For each song (``item_idx`` order), the row of its artist in artist-level arrays.

    Raises when a song's artist is not in ``artists``.
    """
    ordered = order_songs(songs)
    by_artist = order_by_item_idx(artists)
    artist_row = pd.Series(
        by_artist["item_idx"].to_numpy(dtype=np.int64), index=by_artist["artist_id"].to_numpy()
    )
    rows = ordered["artist_id"].map(artist_row)
    if rows.isna().any():
        unknown = ordered.loc[rows.isna(), "artist_id"].unique()[:5].tolist()
        raise ValueError(
            f"{int(rows.isna().sum())} songs have an artist not in `artists`, e.g. {unknown}"
        )
    return rows.to_numpy(dtype=np.int64)


def broadcast_to_songs(artist_matrix: Any, songs: pd.DataFrame, artists: pd.DataFrame) -> Any:
    """The artist-level matrix with one row per song (``item_idx`` order): its artist's row.

    Materialises the song-level matrix (the nodes gather batches instead); kept for
    inspection and tests.
    """
    return artist_matrix[song_artist_rows(songs, artists)]


def _targets(song_item_factors: np.ndarray, songs: pd.DataFrame) -> np.ndarray:
    factors = np.asarray(song_item_factors, dtype=np.float32)
    if factors.ndim != 2 or factors.shape[0] != len(songs):
        raise ValueError(
            f"song_item_factors has shape {factors.shape}; expected one row per song ({len(songs)})"
        )
    return l2_normalise(factors)


def _check_artist_matrix(matrix: Any, artists: pd.DataFrame, what: str) -> Any:
    if matrix.ndim != 2 or matrix.shape[0] != len(artists):
        raise ValueError(
            f"{what} has shape {matrix.shape}; expected one row per artist ({len(artists)}), "
            "rows = artists.item_idx"
        )
    return (
        sp.csr_matrix(matrix, dtype=np.float32)
        if sp.issparse(matrix)
        else np.asarray(matrix, np.float32)
    )


def _check_song_matrix(matrix: np.ndarray, songs: pd.DataFrame, what: str) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != len(songs):
        raise ValueError(
            f"{what} has shape {matrix.shape}; expected one row per song ({len(songs)}), rows = songs.item_idx"
        )
    return matrix


def _name(row: dict[str, Any] | None, default: str) -> str:
    return str((row or {}).get("approach", default))


def _fit(
    network: Any,
    train: Any,
    validation: Any,
    training: dict[str, Any],
    name: str,
    n_train: int,
    n_val: int,
) -> dict[str, list[float]]:
    """Log the sizes, then compile and fit as every content model is."""
    logger.info(
        "%s: training on %d songs, early stopping on %d (%d parameters)",
        name,
        n_train,
        n_val,
        network.count_params(),
    )
    return train_factor_model(network, train, validation, training, name)


def _batches(
    inputs: Any,
    targets: np.ndarray | None,
    training: dict[str, Any],
    shuffle: bool,
    seed: int,
    weights: np.ndarray | None = None,
) -> Any:
    from coldstart.models.fusion_models import song_batches

    return song_batches(
        inputs,
        targets,
        batch_size=int(training.get("batch_size", 32))
        if targets is not None
        else PREDICT_BATCH_SIZE,
        shuffle=shuffle,
        seed=seed,
        weights=weights,
    )


def song_ff_sample_form(training: dict[str, Any], row: dict[str, Any] | None = None) -> str:
    """The row's ``training.sample_form`` (``artist`` when absent), checked."""
    form = training.get("sample_form", "artist")
    if form not in SAMPLE_FORMS:
        raise ValueError(
            f"row {_name(row, 'song_ff')!r}: training.sample_form must be one of "
            f"{SAMPLE_FORMS}, got {form!r}"
        )
    return str(form)


def artist_samples(
    owner: np.ndarray, targets: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One weighted sample per artist whose loss is the per-song loss of its songs.

    Every song of an artist has the same input, so the same unit prediction ``p``;
    with unit targets ``y_s`` the cosine loss of the artist's songs sums to
    ``-sum_s p.y_s = -||Y|| cos(p, Y)`` with ``Y = sum_s y_s``. The artist's sample
    is therefore the target ``Y / ||Y||`` with weight ``||Y||``, scaled here by
    ``n_artists / n_songs`` so that Keras's mean over samples (its
    ``sum_over_batch_size`` reduction and the epoch mean weighted by batch size)
    equals the mean loss over the songs: the same full-batch loss and gradient as
    one sample per song, and losses that read the same in both forms.

    Parameters
    ----------
    owner
        The artist row of each song (e.g. ``song_artist_rows(...)[split_rows]``).
    targets
        The songs' L2-normalised target factors, one row per entry of ``owner``.

    Returns
    -------
    tuple
        The distinct artist rows (sorted), their float32 unit targets
        ``n_artists x n_factors`` and float32 weights ``(n_artists,)``.
    """
    owner = np.asarray(owner, dtype=np.int64)
    if len(owner) != len(targets) or not len(owner):
        raise ValueError("artist_samples needs one target row per song, and at least one song")
    artist_rows, inverse = np.unique(owner, return_inverse=True)
    membership = sp.csr_matrix(
        (np.ones(len(owner)), (inverse, np.arange(len(owner)))),
        shape=(len(artist_rows), len(owner)),
    )
    summed = np.asarray(membership @ np.asarray(targets, dtype=np.float64))
    norms = np.linalg.norm(summed, axis=1)
    weights = norms * (len(artist_rows) / len(owner))
    return artist_rows, l2_normalise(summed), weights.astype(np.float32)


# --------------------------------------------------------------------------- artist inputs


def build_artist_vsm(
    artists: pd.DataFrame,
    artists_enriched: pd.DataFrame,
    artist_tags: pd.DataFrame,
    features: dict[str, Any],
    row: dict[str, Any],
) -> tuple[sp.csr_matrix, Any]:
    """The artists' VSM named by ``row.features``: ``enriched`` (tf-idf) or ``tags``.

    Vocabularies and idf are fitted on the train artists only (the text rows'
    settings: ``features.tfidf`` are ``TfidfVectorizer`` arguments,
    ``features.tags`` are :class:`coldstart.text.TagVectorizer` arguments).

    Returns
    -------
    tuple
        CSR float32 ``n_artists x vocabulary`` (rows = ``artists.item_idx``) and the
        fitted vectoriser.
    """
    from coldstart.text.features import TagVectorizer, artist_documents, fit_tfidf

    source = row.get("features")
    if source not in VSM_FEATURES:
        raise ValueError(
            f"row.features must be one of {VSM_FEATURES} for a VSM input, got {source!r}"
        )
    ordered = order_by_item_idx(artists)
    train = (ordered["split"] == "train").to_numpy()
    if source == "tags":
        vectorizer = TagVectorizer(**(features.get("tags") or {}))
        ids = ordered["artist_id"].to_numpy()
        vectorizer.fit(ids[train], artist_tags)
        matrix = vectorizer.transform(ids, artist_tags)
    else:
        documents = artist_documents(ordered, artists_enriched, "enriched")
        vectorizer = fit_tfidf(
            [d for d, t in zip(documents, train, strict=True) if t], **(features.get("tfidf") or {})
        )
        matrix = vectorizer.transform(documents)
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.sum_duplicates()
    matrix.sort_indices()
    logger.info(
        "%s VSM (%s): %d artists x %d features", _name(row, "song_ff"), source, *matrix.shape
    )
    return matrix, vectorizer


def random_artist_embeddings(
    artists: pd.DataFrame, features: dict[str, Any], seed: int
) -> np.ndarray:
    """The random row's artist input: seeded Gaussian embeddings (``features.dim`` wide).

    Returns
    -------
    np.ndarray
        float32 ``n_artists x dim``, rows = ``artists.item_idx``.
    """
    n_artists = len(order_by_item_idx(artists))
    rng = np.random.default_rng(int(seed))
    embeddings = rng.standard_normal((n_artists, int(features.get("dim", 2048))))
    return (float(features.get("scale", 1.0)) * embeddings).astype(np.float32)


# --------------------------------------------------------------------------- song_ff


def train_song_ff(
    artist_inputs: Any,
    artists: pd.DataFrame,
    songs: pd.DataFrame,
    song_item_factors: np.ndarray,
    model: dict[str, Any],
    training: dict[str, Any],
    seed: int,
    row: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, list[float]]]:
    """Train the text rows' FF on an artist-level input broadcast to songs.

    Every song of an artist has its artist's input, so by default (``training.sample_form:
    artist``) the FF trains and early-stops on one weighted sample per artist
    (:func:`artist_samples`): the same full-batch loss and gradient as one sample per
    song (``sample_form: song``) at songs/artists times fewer steps per epoch; the
    reported losses are per-song means in both forms (docs/fusion.md).

    Parameters
    ----------
    artist_inputs
        ``n_artists x d`` (a CSR VSM, A' or random embeddings), rows = ``artists.item_idx``.
    model
        ``hidden_units``, ``dropout`` (see :func:`coldstart.models.text_models.build_text_ff`),
        ``n_factors``.
    training
        ``learning_rate``, ``batch_size``, ``epochs``, ``patience`` and ``sample_form``
        (``artist`` | ``song``).

    Returns
    -------
    tuple
        The trained Keras model (best validation epoch) and
        ``{"loss": [...], "val_loss": [...]}`` (per-song means) with the
        ``sample_form`` and the numbers of train and val samples.
    """
    from coldstart.models.text_models import build_text_ff

    form = song_ff_sample_form(training, row)
    name = _name(row, "song_ff")
    matrix = _check_artist_matrix(artist_inputs, artists, "artist_inputs")
    rows = song_split_rows(songs)
    targets = _targets(song_item_factors, songs)
    owner = song_artist_rows(songs, artists)
    set_global_seed(int(seed))
    network = build_text_ff(
        input_dim=matrix.shape[1],
        hidden_units=model.get("hidden_units", (2048, 2048)),
        dropout=model.get("dropout", (0.5, 0.5, 0.5)),
        n_factors=int(model.get("n_factors", targets.shape[1])),
        name="song_ff",
    )
    if network.output_shape[-1] != targets.shape[1]:
        raise ValueError(
            f"model.n_factors={network.output_shape[-1]} but the factors have {targets.shape[1]} columns"
        )
    seed = int(seed)

    def batches(split: str, shuffle: bool, offset: int) -> Any:
        idx = rows[split]
        if form == "song":
            return _batches((matrix, owner[idx]), targets[idx], training, shuffle, seed + offset)
        artist_rows, summed, weights = artist_samples(owner[idx], targets[idx])
        return _batches((matrix, artist_rows), summed, training, shuffle, seed + offset, weights)

    train, val = batches("train", True, 0), batches("val", False, 1)
    logger.info(
        "%s: sample_form %s: %d samples for %d train songs, %d for %d val songs "
        "(losses are per-song means in either form)",
        name,
        form,
        train.n_samples,
        len(rows["train"]),
        val.n_samples,
        len(rows["val"]),
    )
    history = _fit(network, train, val, training, name, len(rows["train"]), len(rows["val"]))
    history.update(
        sample_form=form, n_train_samples=int(train.n_samples), n_val_samples=int(val.n_samples)
    )
    return network, history


def predict_song_ff(
    model: Any, artist_inputs: Any, artists: pd.DataFrame, songs: pd.DataFrame
) -> np.ndarray:
    """L2-normalised predicted factors of the test songs (float32, ``songs`` order)."""
    matrix = _check_artist_matrix(artist_inputs, artists, "artist_inputs")
    test = song_split_rows(songs)["test"]
    owner = song_artist_rows(songs, artists)
    # one prediction per test artist, copied to its songs: the songs of an artist tie exactly
    test_artists, song_of = np.unique(owner[test], return_inverse=True)
    predicted = model.predict(_batches((matrix, test_artists), None, {}, False, 0), verbose=0)
    return l2_normalise(predicted)[song_of]


# --------------------------------------------------------------------------- late fusion (mm-lf-*)


def _fusion_inputs(
    artist_embeddings: np.ndarray,
    track_embeddings: np.ndarray,
    artists: pd.DataFrame,
    songs: pd.DataFrame,
    samples: np.ndarray,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from coldstart.models.fusion_models import ARTIST_INPUT, TRACK_INPUT

    owner = song_artist_rows(songs, artists)
    return {
        ARTIST_INPUT: (artist_embeddings, owner[samples]),
        TRACK_INPUT: (track_embeddings, samples),
    }


def _log_missing_tracks(track_embeddings: np.ndarray, songs: pd.DataFrame, name: str) -> None:
    ordered = order_songs(songs)
    empty = ~np.any(track_embeddings != 0, axis=1)
    if empty.any():
        by_split = ordered.loc[empty, "split"].value_counts().to_dict()
        logger.warning(
            "%s: %d songs have no track embedding (their audio gave no features): zero T' "
            "input, predicted from the artist embedding alone; by split %s",
            name,
            int(empty.sum()),
            by_split,
        )


def train_late_fusion(
    artist_embeddings: np.ndarray,
    track_embeddings: np.ndarray,
    artists: pd.DataFrame,
    songs: pd.DataFrame,
    song_item_factors: np.ndarray,
    fusion: dict[str, Any],
    training: dict[str, Any],
    seed: int,
    row: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, list[float]]]:
    """Train the late-fusion network on A' (of each song's artist) and T' (of the song).

    Parameters
    ----------
    artist_embeddings
        A', float32 ``n_artists x 2048``, rows = ``artists.item_idx``.
    track_embeddings
        T', float32 ``n_songs x 4096``, rows = ``songs.item_idx``; songs whose audio
        gave no features have zero rows and are kept (artist input only).
    fusion
        ``kind`` (``linear`` | ``hidden``), ``dropout``, ``hidden_units``, ``n_factors``.

    Returns
    -------
    tuple
        The trained Keras model and its history.
    """
    from coldstart.models.fusion_models import build_late_fusion

    artist_embeddings = _check_artist_matrix(
        np.asarray(artist_embeddings), artists, "artist_embeddings"
    )
    track_embeddings = _check_song_matrix(track_embeddings, songs, "track_embeddings")
    rows = song_split_rows(songs)
    targets = _targets(song_item_factors, songs)
    name = _name(row, "late_fusion")
    _log_missing_tracks(track_embeddings, songs, name)
    set_global_seed(int(seed))
    network = build_late_fusion(
        artist_dim=artist_embeddings.shape[1],
        track_dim=track_embeddings.shape[1],
        kind=str(fusion.get("kind", "linear")),
        dropout=float(fusion.get("dropout", 0.7)),
        hidden_units=int(fusion.get("hidden_units", 512)),
        n_factors=int(fusion.get("n_factors", targets.shape[1])),
    )
    seed = int(seed)

    def batches(split: str, shuffle: bool, offset: int) -> Any:
        inputs = _fusion_inputs(artist_embeddings, track_embeddings, artists, songs, rows[split])
        return _batches(inputs, targets[rows[split]], training, shuffle, int(seed) + offset)

    history = _fit(
        network,
        batches("train", True, 0),
        batches("val", False, 1),
        training,
        name,
        len(rows["train"]),
        len(rows["val"]),
    )
    return network, history


def predict_late_fusion(
    model: Any,
    artist_embeddings: np.ndarray,
    track_embeddings: np.ndarray,
    artists: pd.DataFrame,
    songs: pd.DataFrame,
) -> np.ndarray:
    """L2-normalised predicted factors of the test songs (float32, ``songs`` order)."""
    artist_embeddings = _check_artist_matrix(
        np.asarray(artist_embeddings), artists, "artist_embeddings"
    )
    track_embeddings = _check_song_matrix(track_embeddings, songs, "track_embeddings")
    test = song_split_rows(songs)["test"]
    inputs = _fusion_inputs(artist_embeddings, track_embeddings, artists, songs, test)
    return l2_normalise(model.predict(_batches(inputs, None, {}, False, 0), verbose=0))


# --------------------------------------------------------------------------- multimodal end to end (mm)


def _audio_rows(audio_feature_index: pd.DataFrame, songs: pd.DataFrame) -> pd.DataFrame:
    """The feature index in ``songs`` order (``item_idx``), checked against ``songs``."""
    index = audio_feature_index.sort_values("item_idx").reset_index(drop=True)
    ordered = order_songs(songs)
    if len(index) != len(ordered) or not np.array_equal(
        index["item_idx"].to_numpy(), np.arange(len(ordered))
    ):
        raise ValueError("audio_feature_index must hold one row per song (item_idx 0..n_songs-1)")
    if "song_id" in index and not np.array_equal(
        index["song_id"].astype(str), ordered["song_id"].astype(str)
    ):
        raise ValueError(
            "audio_feature_index does not match `songs` (song ids differ): rerun the audio features"
        )
    return index


def train_multimodal(
    artist_inputs: Any,
    artists: pd.DataFrame,
    songs: pd.DataFrame,
    song_item_factors: np.ndarray,
    audio_feature_index: pd.DataFrame,
    audio_feature_store: Path,
    audio_feature_stats: dict[str, Any],
    model: dict[str, Any],
    training: dict[str, Any],
    patches: dict[str, Any],
    seed: int,
    row: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, list[float]]]:
    """Train mm end to end: (artist VSM of the song's artist, one spectrogram patch) -> factors.

    Train and val songs without audio features are left out (as in the audio row);
    each train song contributes one patch (``patches.sampling``), streamed from the
    audio row's feature store and standardised with its train statistics.

    Parameters
    ----------
    model
        ``text`` (``hidden_units``, ``dropout``), ``audio`` (``filters``,
        ``kernel_sizes``, ``pool_sizes``, ``dropout``) and ``n_factors``.
    patches
        ``patch_frames`` and ``sampling`` (``fixed`` | ``per_epoch`` | ``center``).

    Returns
    -------
    tuple
        The trained Keras model and its history.
    """
    from coldstart.audio.store import FeatureStore
    from coldstart.audio.streaming import CQTPatchDataset
    from coldstart.models.fusion_models import PATCH_INPUT, TEXT_INPUT, build_multimodal

    matrix = _check_artist_matrix(artist_inputs, artists, "artist_inputs")
    matrix = sp.csr_matrix(matrix) if not sp.issparse(matrix) else matrix
    rows = song_split_rows(songs)
    targets = _targets(song_item_factors, songs)
    owner = song_artist_rows(songs, artists)
    index = _audio_rows(audio_feature_index, songs)
    store = FeatureStore(audio_feature_store)
    mean = np.asarray(audio_feature_stats["mean"], dtype=np.float32)
    std = np.asarray(audio_feature_stats["std"], dtype=np.float32)
    patch_frames = int(patches.get("patch_frames", 322))
    batch_size = int(training.get("batch_size", 32))
    name = _name(row, "multimodal")

    def stream(split: str, shuffle: bool, sampling: str, offset: int) -> Any:
        usable = index.loc[rows[split]]
        usable = usable[usable["status"] == "ok"]
        if usable.empty:
            raise RuntimeError(f"{name}: no {split} song has audio features")
        idx = usable["item_idx"].to_numpy(dtype=np.int64)
        return CQTPatchDataset(
            store,
            usable["feature_key"].tolist(),
            usable["n_frames"].to_numpy(),
            targets[idx],
            mean,
            std,
            patch_frames=patch_frames,
            batch_size=batch_size,
            shuffle=shuffle,
            sampling=sampling,
            seed=int(seed) + offset,
            extra_inputs={TEXT_INPUT: matrix[owner[idx]]},
            input_name=PATCH_INPUT,
        )

    set_global_seed(int(seed))
    train = stream("train", True, str(patches.get("sampling", "fixed")), 0)
    # validation always sees the same patch per track, so val_loss is comparable across epochs
    validation = stream("val", False, "fixed", 1)
    text, audio = model.get("text") or {}, model.get("audio") or {}
    network = build_multimodal(
        matrix.shape[1],
        text_hidden_units=text.get("hidden_units", (2048, 2048)),
        text_dropout=text.get("dropout", (0.5, 0.5, 0.5)),
        patch_frames=patch_frames,
        n_bins=store.config.n_bins,
        filters=audio.get("filters", (256, 512, 1024, 1024)),
        kernel_sizes=audio.get("kernel_sizes", (4, 4, 4, 1)),
        pool_sizes=audio.get("pool_sizes", (4, 4, 4, 1)),
        audio_dropout=float(audio.get("dropout", 0.5)),
        n_factors=int(model.get("n_factors", targets.shape[1])),
    )
    history = _fit(
        network, train, validation, training, name, len(train.keys), len(validation.keys)
    )
    return network, history


def predict_multimodal(
    model: Any,
    artist_inputs: Any,
    artists: pd.DataFrame,
    songs: pd.DataFrame,
    audio_feature_index: pd.DataFrame,
    audio_feature_store: Path,
    audio_feature_stats: dict[str, Any],
    patches: dict[str, Any],
) -> np.ndarray:
    """L2-normalised predicted factors of the test songs (float32, ``songs`` order).

    The audio row's rule: the mean output over a track's patches (hop
    ``patches.predict_hop_frames`` after trimming ``patches.predict_trim`` at each
    end), each patch paired with the VSM row of the song's artist. A test song
    without audio features is predicted from one all-zero standardised patch (the
    train mean spectrogram) and its artist's VSM.
    """
    from coldstart.models.audio_cnn import FACTORS_LAYER
    from coldstart.models.fusion_models import TEXT_INPUT
    from coldstart.pipelines.audio.nodes import predict_from_store

    matrix = _check_artist_matrix(artist_inputs, artists, "artist_inputs")
    test = song_split_rows(songs)["test"]
    owner = song_artist_rows(songs, artists)
    index = _audio_rows(audio_feature_index, songs).loc[test]
    keys = [
        k if s == "ok" else None for k, s in zip(index["feature_key"], index["status"], strict=True)
    ]
    missing = sum(k is None for k in keys)
    if missing:
        logger.warning(
            "mm: %d of %d test songs have no audio features: predicted from the mean patch",
            missing,
            len(keys),
        )
    outputs = predict_from_store(
        model,
        audio_feature_store,
        audio_feature_stats,
        keys,
        patches,
        layers=(FACTORS_LAYER,),
        track_inputs={TEXT_INPUT: matrix[owner[test]]},
    )
    return l2_normalise(outputs[FACTORS_LAYER])


# --------------------------------------------------------------------------- artist rows fused


def fuse_artist_rows(
    fusion: dict[str, Any], anchor: np.ndarray, *content: np.ndarray
) -> np.ndarray:
    """Table 1's fused row: the anchor row's test factors plus a content direction.

    ``anchor + weight * mean(|anchor|) * unit(sum_k unit(content_k))``, row by row: the
    anchor (DropoutNet, scored with the plain dot product) keeps the lengths it learnt,
    which carry each artist's expected popularity; the content rows (FF networks whose
    outputs are unit vectors) add one direction, their normalised sum, stretched to the
    anchor's mean length times ``fusion.weight``. Every input is the test artists'
    predicted factors of one row, in the same order; the result is scored with the
    plain dot product (``row.normalize_items: false``).
    """
    weight = float(fusion.get("weight", 1.0))
    if not np.isfinite(weight) or weight < 0:
        raise ValueError(
            f"fusion.weight must be a finite number >= 0, got {fusion.get('weight')!r}"
        )
    if not content:
        raise ValueError("the fused row needs at least one content row (row.content_from)")
    anchor = np.asarray(anchor, dtype=np.float64)
    parts = [np.asarray(factors, dtype=np.float64) for factors in content]
    for position, factors in enumerate([anchor, *parts]):
        what = "the anchor row" if position == 0 else f"content row {position}"
        if factors.shape != anchor.shape:
            raise ValueError(
                f"{what}'s test factors have shape {factors.shape}, the anchor's {anchor.shape}: "
                "the fused rows must predict the same test artists with the same rank"
            )
        if not np.isfinite(factors).all():
            raise ValueError(f"{what}'s test factors hold non-finite values")
    direction = l2_normalise(sum(l2_normalise(factors) for factors in parts))
    length = float(np.linalg.norm(anchor, axis=1).mean()) if len(anchor) else 0.0
    logger.info(
        "Fused artist row: anchor mean length %.4f, %d content row(s) at weight %g",
        length,
        len(parts),
        weight,
    )
    return (anchor + weight * length * direction).astype(np.float32)

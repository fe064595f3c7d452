"""Nodes of the known-artist pipeline: Table 3, new tracks of artists already known.

The known-artist world (docs/known_artist.md) holds the tracks of the train artists
only, re-split by track: a seeded share of each artist's tracks is held out as val
and test tracks, the rest stay as the artist's catalogue. WMF is fitted on the
catalogue tracks (the project's :func:`~coldstart.pipelines.factorization.nodes.factorize`),
the held-out tracks are folded in, and their plays are the targets. ``known_songs``
keeps the ``songs`` columns, with ``item_idx`` renumbered ``0..n-1`` over the world
(``song_item_idx`` is the song's index in ``songs``) and ``split`` the track split,
so every song-level template reads it in place of ``songs``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from coldstart.models.common import l2_normalise

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


# --------------------------------------------------------------------------- the world


def split_known_artist_tracks(
    songs: pd.DataFrame, artists: pd.DataFrame, split: dict[str, Any], seed: int
) -> pd.DataFrame:
    """The train artists' tracks, each drawn into train, val or test (seeded).

    Every track is held out as test with probability ``split.test`` and as val with
    ``split.val``; then each artist gets back, from its held-out tracks, as many as it
    needs to keep ``split.min_train_tracks`` catalogue tracks, so every held-out
    track's artist has a catalogue. Tracks of val and test artists are not in the world.

    Returns
    -------
    pd.DataFrame
        ``songs``' columns for the train artists' songs, in ``songs.item_idx`` order,
        with ``song_item_idx`` (the index in ``songs``), ``item_idx`` (``0..n-1``) and
        ``split`` (the track split).
    """
    val, test = float(split.get("val", 0.1)), float(split.get("test", 0.2))
    min_train = int(split.get("min_train_tracks", 1))
    if val <= 0 or test <= 0 or val + test >= 1 or min_train < 1:
        raise ValueError(
            "known_artist.split needs val > 0, test > 0, val + test < 1 and "
            f"min_train_tracks >= 1, got {split}"
        )
    train_artists = set(artists.loc[artists["split"] == "train", "artist_id"])
    known = songs[songs["artist_id"].isin(train_artists)].sort_values("item_idx", kind="stable")
    known = known.reset_index(drop=True)
    draw = np.random.default_rng(int(seed)).random(len(known))
    assigned = np.where(draw < test, "test", np.where(draw < test + val, "val", "train"))
    # an artist short of catalogue tracks takes back its held-out tracks of highest draw
    for _, positions in known.groupby("artist_id", sort=False).indices.items():
        held = positions[assigned[positions] != "train"]
        short = min_train - (len(positions) - len(held))
        if short > 0:
            assigned[held[np.argsort(-draw[held], kind="stable")[:short]]] = "train"
    known = known.assign(
        song_item_idx=known["item_idx"].to_numpy(dtype=np.int64),
        item_idx=np.arange(len(known), dtype=np.int64),
        split=assigned,
    )
    counts = known["split"].value_counts().reindex(SPLITS, fill_value=0)
    if (counts == 0).any():
        raise ValueError(
            f"The known-artist split left a split without tracks ({counts.to_dict()}): "
            "raise known_artist.split.val/test or use a larger world"
        )
    logger.info(
        "Known-artist world: %d tracks of %d train artists; %s by track",
        len(known),
        known["artist_id"].nunique(),
        ", ".join(f"{s} {int(counts[s])}" for s in SPLITS),
    )
    return known


def known_artist_plays(song_plays: Any, known_songs: pd.DataFrame) -> Any:
    """The users × known-world tracks play matrix (columns = ``known_songs.item_idx``)."""
    ordered = known_songs.sort_values("item_idx")
    return song_plays[:, ordered["song_item_idx"].to_numpy(dtype=np.int64)].tocsr()


def known_audio_feature_index(
    audio_feature_index: pd.DataFrame, known_songs: pd.DataFrame
) -> pd.DataFrame:
    """The audio feature index of the known world: its tracks, indices and splits.

    The spectrograms are the feature store's (extracted once for every song); only
    which track is which row and split changes, so the audio template trains on the
    catalogue tracks and early-stops on the val tracks of this world.
    """
    position = pd.Series(
        known_songs["item_idx"].to_numpy(), index=known_songs["song_item_idx"].to_numpy()
    )
    split = pd.Series(known_songs["split"].to_numpy(), index=known_songs["item_idx"].to_numpy())
    index = audio_feature_index[audio_feature_index["item_idx"].isin(position.index)].copy()
    index["item_idx"] = position.loc[index["item_idx"].to_numpy()].to_numpy(dtype=np.int64)
    index["split"] = split.loc[index["item_idx"].to_numpy()].to_numpy()
    index = index.sort_values("item_idx", kind="stable").reset_index(drop=True)
    if len(index) != len(known_songs):
        raise ValueError(
            f"{len(known_songs) - len(index)} known-world tracks are not in the audio feature index"
        )
    return index


# --------------------------------------------------------------------------- rows


def _split_rows(known_songs: pd.DataFrame, split: str) -> np.ndarray:
    ordered = known_songs.sort_values("item_idx")
    return ordered.loc[ordered["split"] == split, "item_idx"].to_numpy(dtype=np.int64)


def _artist_rows(known_songs: pd.DataFrame, artists: pd.DataFrame) -> np.ndarray:
    """Each known-world track's row in artist-level arrays (``item_idx`` order)."""
    from coldstart.pipelines.fusion.nodes import song_artist_rows

    return song_artist_rows(known_songs, artists)


def validation_loss(predicted: np.ndarray, targets: np.ndarray) -> float:
    """The content models' loss on held-out tracks: the mean negative cosine similarity."""
    return float(-(l2_normalise(predicted) * l2_normalise(targets)).sum(axis=1).mean())


def catalogue_mean(
    known_item_factors: np.ndarray, known_songs: pd.DataFrame, artists: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The catalogue-mean row: a held-out track gets the mean of its artist's catalogue factors.

    Returns
    -------
    artist_embeddings
        float32 ``n_artists x k`` (rows = ``artists.item_idx``): the mean WMF factors
        of each artist's catalogue tracks, zeros for artists outside the world (late
        fusion reads them as its artist input).
    test_item_factors
        The test tracks' artists' means, in ``known_songs`` order.
    history
        ``val_loss``: the loss of the same prediction on the val tracks.
    """
    factors = np.asarray(known_item_factors, dtype=np.float32)
    owner = _artist_rows(known_songs, artists)
    train = _split_rows(known_songs, "train")
    sums = np.zeros((len(artists), factors.shape[1]), dtype=np.float64)
    np.add.at(sums, owner[train], factors[train])
    counts = np.bincount(owner[train], minlength=len(artists))
    means = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
    val, test = _split_rows(known_songs, "val"), _split_rows(known_songs, "test")
    loss = validation_loss(means[owner[val]], factors[val])
    logger.info("catalogue mean: val loss %.4f over %d val tracks", loss, len(val))
    return means, means[owner[test]], {"val_loss": [loss], "n_val_tracks": int(len(val))}


def _attention_prediction(
    targets_of: np.ndarray,
    owner: np.ndarray,
    train: np.ndarray,
    unit_factors: np.ndarray,
    unit_tracks: np.ndarray,
    correction: np.ndarray,
    sharpness: float,
    weight: float,
) -> np.ndarray:
    """Attention of each track in ``targets_of`` over its artist's catalogue tracks.

    The mix is the softmax (over the artist's catalogue) of ``sharpness`` times the
    cosine similarity of the tracks' audio embeddings, applied to the catalogue
    tracks' unit factors; ``weight`` times the track's audio correction is added.
    """
    by_artist: dict[int, np.ndarray] = {}
    for position, artist in zip(train, owner[train], strict=True):
        by_artist.setdefault(int(artist), []).append(position)
    mixes = np.zeros((len(targets_of), unit_factors.shape[1]), dtype=np.float64)
    for i, track in enumerate(targets_of):
        catalogue = np.asarray(by_artist[int(owner[track])])
        scores = sharpness * (unit_tracks[catalogue] @ unit_tracks[track])
        attention = np.exp(scores - scores.max())
        mixes[i] = (attention / attention.sum()) @ unit_factors[catalogue]
    return l2_normalise(l2_normalise(mixes) + weight * l2_normalise(correction)).astype(np.float32)


def audio_correction(
    unit_factors: np.ndarray,
    unit_tracks: np.ndarray,
    train: np.ndarray,
    ridge: float,
    batch_rows: int = 8192,
) -> np.ndarray:
    """A linear map of T' to unit factors, fitted on the catalogue tracks: the audio part.

    Ridge regression without intercept; returns the predicted factors of every track
    (rows = ``item_idx``). It is solved in whichever form has the smaller system: the
    dual (catalogue x catalogue) while the catalogue has fewer tracks than T' has
    dimensions, as on the synthetic worlds, else the primal (dimensions x dimensions),
    as at MSD-A's size, where a dual system would not fit in memory. Both give the same
    map. The primal sums and the predictions go through ``batch_rows`` tracks at a time,
    so no float64 copy of T' is ever made whole.
    """
    dimensions = unit_tracks.shape[1]
    if len(train) < dimensions:
        x = unit_tracks[train].astype(np.float64)
        gram = x @ x.T + float(ridge) * np.eye(len(train))
        weights = x.T @ np.linalg.solve(gram, unit_factors[train].astype(np.float64))
    else:
        gram = float(ridge) * np.eye(dimensions)
        moments = np.zeros((dimensions, unit_factors.shape[1]))
        for start in range(0, len(train), batch_rows):
            rows = train[start : start + batch_rows]
            x = unit_tracks[rows].astype(np.float64)
            gram += x.T @ x
            moments += x.T @ unit_factors[rows].astype(np.float64)
        weights = np.linalg.solve(gram, moments)
    predicted = np.empty((len(unit_tracks), unit_factors.shape[1]), dtype=np.float32)
    for start in range(0, len(unit_tracks), batch_rows):
        block = unit_tracks[start : start + batch_rows].astype(np.float64)
        predicted[start : start + batch_rows] = block @ weights
    return predicted


def train_artist_attention(
    known_item_factors: np.ndarray,
    known_songs: pd.DataFrame,
    artists: pd.DataFrame,
    track_embeddings: np.ndarray,
    attention: dict[str, Any],
) -> tuple[np.ndarray, dict[str, Any]]:
    """The artist-aware row: audio attention over the artist's catalogue, plus a correction.

    A held-out track's factors are a mix of its artist's catalogue tracks' (unit) WMF
    factors, weighted by a softmax over the cosine similarity of its audio embedding
    (T') with theirs, plus ``weight`` times an audio correction: a ridge regression
    (``attention.ridge``) of T' to the unit factors, fitted on the catalogue tracks
    (:func:`audio_correction`). ``sharpness`` 0 is the mean of the catalogue's unit
    factors; a large ``weight`` tends to the audio regression. Both are chosen on the
    val tracks from the grids ``attention.sharpness`` and ``attention.weight`` by the
    validation loss.

    Returns
    -------
    test_item_factors, history
        The test tracks' factors (``known_songs`` order) and ``val_loss`` (of the
        chosen pair), the chosen pair and the loss of every pair of the grid.
    """
    factors = l2_normalise(np.asarray(known_item_factors, dtype=np.float32))
    tracks = l2_normalise(np.asarray(track_embeddings, dtype=np.float32))
    owner = _artist_rows(known_songs, artists)
    train = _split_rows(known_songs, "train")
    val, test = _split_rows(known_songs, "val"), _split_rows(known_songs, "test")
    correction = audio_correction(factors, tracks, train, float(attention.get("ridge", 1.0)))
    grid: dict[str, float] = {}
    best: tuple[float, float, float] | None = None
    for sharpness in attention.get("sharpness", [0.0, 5.0, 20.0]):
        for weight in attention.get("weight", [0.0, 0.5, 1.0]):
            predicted = _attention_prediction(
                val, owner, train, factors, tracks, correction[val], sharpness, weight
            )
            loss = validation_loss(predicted, factors[val])
            grid[f"{float(sharpness):g}/{float(weight):g}"] = loss
            if best is None or loss < best[0]:
                best = (loss, float(sharpness), float(weight))
    if best is None:
        raise ValueError("attention.sharpness and attention.weight must not be empty")
    loss, sharpness, weight = best
    logger.info(
        "artist attention: sharpness %g, audio weight %g chosen on %d val tracks (loss %.4f)",
        sharpness,
        weight,
        len(val),
        loss,
    )
    predicted = _attention_prediction(
        test, owner, train, factors, tracks, correction[test], sharpness, weight
    )
    history = {"val_loss": [loss], "sharpness": sharpness, "weight": weight, "grid_val_loss": grid}
    return predicted, history

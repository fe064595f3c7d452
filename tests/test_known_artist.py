"""Table 3 (new tracks of known artists): the world's split, its factors and its rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from coldstart.pipelines.evaluation.nodes import split_test_plays, upper_bound_test_factors
from coldstart.pipelines.factorization.nodes import confidence, factorize
from coldstart.pipelines.known_artist import create_pipeline, nodes
from coldstart.rows import TABLES, load_rows, rows_of_table

SPLIT = {"val": 0.2, "test": 0.3, "min_train_tracks": 1}
WMF = {
    "factors": 6,
    "regularization": 0.5,
    "iterations": 5,
    "confidence": {"scaling": "log", "alpha": 2.0, "epsilon": 1.0},
    "show_progress": False,
}


def make_world(seed: int = 0) -> dict:
    """30 artists (20 train, 5 val, 5 test) with 1 to 8 songs each, and their plays."""
    rng = np.random.default_rng(seed)
    n_artists = 30
    artist_split = np.repeat(["train", "val", "test"], [20, 5, 5])
    artists = pd.DataFrame(
        {
            "artist_id": [f"AR{i:03d}" for i in range(n_artists)],
            "split": artist_split,
            "item_idx": np.arange(n_artists),
        }
    )
    per_artist = rng.integers(1, 9, size=n_artists)
    owner = np.repeat(np.arange(n_artists), per_artist)
    songs = pd.DataFrame(
        {
            "song_id": [f"SO{i:04d}" for i in range(len(owner))],
            "artist_id": artists["artist_id"].to_numpy()[owner],
            "split": artist_split[owner],
        }
    )
    order = songs["split"].map({"train": 0, "val": 1, "test": 2})
    songs = songs.assign(order=order).sort_values(["order", "song_id"], kind="stable")
    songs = songs.drop(columns="order").reset_index(drop=True)
    songs["item_idx"] = np.arange(len(songs))
    song_owner = songs["artist_id"].str[2:].astype(int).to_numpy()
    # users like one of three genres; each artist belongs to one
    n_users = 80
    taste = rng.integers(0, 3, size=n_users)
    likes = (taste[:, None] == (song_owner % 3)[None, :]) & (
        rng.random((n_users, len(songs))) < 0.4
    )
    counts = np.where(likes, rng.integers(1, 20, size=likes.shape), 0)
    plays = sp.csr_matrix(counts.astype(np.float32))
    return {
        "artists": artists.sample(frac=1.0, random_state=seed).reset_index(drop=True),
        "songs": songs.sample(frac=1.0, random_state=seed + 1).reset_index(drop=True),
        "plays": plays,
    }


@pytest.fixture(scope="module")
def world() -> dict:
    data = make_world()
    known = nodes.split_known_artist_tracks(data["songs"], data["artists"], SPLIT, seed=3)
    plays = nodes.known_artist_plays(data["plays"], known)
    users, items = factorize(plays, known, WMF, seed=0)
    return {**data, "known": known, "known_plays": plays, "users": users, "items": items}


# --------------------------------------------------------------------------- the split


def test_split_is_seeded(world):
    again = nodes.split_known_artist_tracks(world["songs"], world["artists"], SPLIT, seed=3)
    pd.testing.assert_frame_equal(again, world["known"])
    other = nodes.split_known_artist_tracks(world["songs"], world["artists"], SPLIT, seed=4)
    assert not np.array_equal(other["split"].to_numpy(), world["known"]["split"].to_numpy())


def test_split_is_disjoint_and_covers_the_train_artists_tracks(world):
    known, songs, artists = world["known"], world["songs"], world["artists"]
    train_artists = set(artists.loc[artists["split"] == "train", "artist_id"])
    expected = songs.loc[songs["artist_id"].isin(train_artists), "song_id"]
    assert sorted(known["song_id"]) == sorted(expected)
    assert known["song_id"].is_unique  # one split per track: disjoint
    assert set(known["split"]) == {"train", "val", "test"}
    np.testing.assert_array_equal(known["item_idx"], np.arange(len(known)))
    by_id = songs.set_index("song_id")["item_idx"]
    np.testing.assert_array_equal(known["song_item_idx"], by_id.loc[known["song_id"]])


def test_every_held_out_tracks_artist_is_a_train_artist_with_a_catalogue(world):
    known, artists = world["known"], world["artists"]
    train_artists = set(artists.loc[artists["split"] == "train", "artist_id"])
    held = known[known["split"] != "train"]
    assert len(held) and set(held["artist_id"]) <= train_artists
    catalogue = known[known["split"] == "train"].groupby("artist_id").size()
    assert (catalogue.reindex(train_artists, fill_value=0) >= SPLIT["min_train_tracks"]).all()
    # the held-out share is about the configured one (200 tracks or so)
    share = (known["split"] != "train").mean()
    assert 0.3 < share < 0.6


def test_split_refuses_bad_shares(world):
    with pytest.raises(ValueError, match="val \\+ test < 1"):
        nodes.split_known_artist_tracks(
            world["songs"], world["artists"], {"val": 0.5, "test": 0.5}, seed=0
        )


def test_known_plays_are_the_worlds_columns(world):
    known, plays = world["known"], world["known_plays"]
    ordered = known.sort_values("item_idx")
    for position in (0, len(known) // 2, len(known) - 1):
        original = int(ordered["song_item_idx"].iloc[position])
        np.testing.assert_array_equal(
            plays[:, position].toarray(), world["plays"][:, original].toarray()
        )


# --------------------------------------------------------------------------- the factors


def test_wmf_never_sees_the_held_out_tracks(world):
    """Changing the held-out tracks' plays leaves the catalogue's and users' factors as they were."""
    known, plays = world["known"], world["known_plays"].tolil(copy=True)
    held = known.loc[known["split"] != "train", "item_idx"].to_numpy()
    plays[:, held] = 0
    plays[0, held] = 50.0
    users, items = factorize(plays.tocsr(), known, WMF, seed=0)
    train = known.loc[known["split"] == "train", "item_idx"].to_numpy()
    np.testing.assert_allclose(users, world["users"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(items[train], world["items"][train], rtol=1e-5, atol=1e-6)


def test_upper_bound_is_the_direct_fold_in_solve(world):
    """The test tracks' factors solve the WMF item problem against the fixed user factors."""
    known, users = world["known"], world["users"].astype(np.float64)
    upper = upper_bound_test_factors(world["items"], known)
    weights = confidence(world["known_plays"], "log", 2.0, 1.0).tocsc()
    test = known.sort_values("item_idx").query("split == 'test'")["item_idx"].to_numpy()
    assert upper.shape == (len(test), WMF["factors"])
    gram = users.T @ users
    for row, item in enumerate(test):
        column = weights[:, item]
        who, c = column.indices, column.data.astype(np.float64)
        # (U'U + U'(C - I)U + lambda I) v = U'C p, with p = 1 on the observed plays
        a = gram + (users[who].T * (c - 1.0)) @ users[who] + WMF["regularization"] * np.eye(6)
        b = users[who].T @ c
        np.testing.assert_allclose(upper[row], np.linalg.solve(a, b), rtol=1e-3, atol=1e-4)


def test_evaluation_targets_are_the_test_tracks_plays(world):
    known = world["known"]
    test_plays, evaluated = split_test_plays(world["known_plays"], known)
    test = known.sort_values("item_idx").query("split == 'test'")["item_idx"].to_numpy()
    np.testing.assert_array_equal(test_plays.toarray(), world["known_plays"][:, test].toarray())
    assert len(evaluated) > 0


# --------------------------------------------------------------------------- the rows


def test_catalogue_mean_is_the_mean_of_the_artists_catalogue_factors(world):
    known, artists, items = world["known"], world["artists"], world["items"]
    means, test_factors, history = nodes.catalogue_mean(items, known, artists)
    by_id = artists.set_index("artist_id")["item_idx"]
    for artist_id, tracks in known[known["split"] == "train"].groupby("artist_id"):
        expected = items[tracks["item_idx"].to_numpy()].mean(axis=0)
        np.testing.assert_allclose(means[by_id[artist_id]], expected, rtol=1e-5, atol=1e-6)
    outside = artists.loc[artists["split"] != "train", "item_idx"].to_numpy()
    assert not means[outside].any()
    test = known.sort_values("item_idx").query("split == 'test'")
    np.testing.assert_allclose(test_factors, means[by_id.loc[test["artist_id"]].to_numpy()])
    assert len(history["val_loss"]) == 1 and -1.0 <= history["val_loss"][0] <= 1.0


def test_artist_attention_reduces_to_the_catalogue_and_picks_by_val_loss(world):
    """Sharpness 0 and no correction: the mean of unit catalogue factors; the grid picks by val loss."""
    from coldstart.models.common import l2_normalise

    known, artists, items = world["known"], world["artists"], world["items"]
    tracks = np.random.default_rng(0).normal(size=(len(known), 10)).astype(np.float32)
    ordered = known.sort_values("item_idx")
    plain = {"sharpness": [0.0], "weight": [0.0]}
    predicted, history = nodes.train_artist_attention(items, known, artists, tracks, plain)
    unit = l2_normalise(items)
    train = ordered[ordered["split"] == "train"]
    for row, artist_id in enumerate(ordered.loc[ordered["split"] == "test", "artist_id"]):
        catalogue = train.loc[train["artist_id"] == artist_id, "item_idx"].to_numpy()
        expected = l2_normalise(unit[catalogue].mean(axis=0, keepdims=True))[0]
        np.testing.assert_allclose(predicted[row], expected, rtol=1e-4, atol=1e-5)
    assert history["sharpness"] == 0.0 and history["weight"] == 0.0
    grid = {"sharpness": [0.0, 5.0], "weight": [0.0, 100.0], "ridge": 1.0}
    predicted, history = nodes.train_artist_attention(items, known, artists, tracks, grid)
    assert len(history["grid_val_loss"]) == 4
    assert history["val_loss"][0] == min(history["grid_val_loss"].values())
    np.testing.assert_allclose(np.linalg.norm(predicted, axis=1), 1.0, rtol=1e-5)
    # random audio carries nothing about the tracks: the catalogue alone wins on val
    assert history["weight"] == 0.0


@pytest.mark.parametrize(
    ("n_tracks", "dimensions"),
    [(30, 50), (120, 8)],
    ids=["dual: fewer catalogue tracks than dimensions", "primal: more, in batches"],
)
def test_audio_correction_is_ridge_regression_on_the_catalogue(n_tracks, dimensions):
    rng = np.random.default_rng(1)
    tracks, factors = rng.normal(size=(n_tracks, dimensions)), rng.normal(size=(n_tracks, 4))
    train = np.arange(0, n_tracks, 2)
    predicted = nodes.audio_correction(factors, tracks, train, ridge=0.5, batch_rows=7)
    x = tracks[train]
    primal = np.linalg.solve(x.T @ x + 0.5 * np.eye(dimensions), x.T @ factors[train])
    assert predicted.dtype == np.float32 and predicted.shape == (n_tracks, 4)
    np.testing.assert_allclose(predicted, tracks @ primal, rtol=1e-4, atol=1e-5)


def test_known_audio_feature_index_renumbers_the_worlds_tracks(world):
    songs, known = world["songs"], world["known"]
    index = pd.DataFrame(
        {
            "item_idx": songs["item_idx"],
            "split": songs["split"],
            "feature_key": "k" + songs["song_id"],
            "status": "ok",
        }
    )
    mapped = nodes.known_audio_feature_index(index, known)
    np.testing.assert_array_equal(mapped["item_idx"], np.arange(len(known)))
    ordered = known.sort_values("item_idx")
    assert mapped["feature_key"].tolist() == ("k" + ordered["song_id"]).tolist()
    assert mapped["split"].tolist() == ordered["split"].tolist()


# --------------------------------------------------------------------------- wiring


def test_table3_rows_are_declared_and_wired():
    rows = load_rows()
    known = rows_of_table("known")
    assert TABLES["known"] == "table3_known_artist"
    templates = {rows[ns]["template"] for ns in known}
    assert {
        "random_factors",
        "upper_bound",
        "catalogue_mean",
        "audio_cnn",
        "song_ff",
        "late_fusion",
        "artist_attention",
    } <= templates
    pipe = create_pipeline()
    assert {"known_songs", "known_item_factors", "known_user_factors"} <= pipe.all_outputs()
    from coldstart.pipelines.fusion.pipeline import row_pipeline

    fused = row_pipeline("catalogue_lf_known", rows["catalogue_lf_known"])
    assert {"known_songs", "known_item_factors", "catalogue_mean_known.artist_embeddings"} <= (
        fused.inputs()
    )
    assert "songs" not in fused.inputs() and "song_item_factors" not in fused.inputs()


# --------------------------------------------------------------------------- on the tiny world


@pytest.mark.slow
def test_table3_is_in_the_default_run_with_every_row(tiny_run: dict) -> None:
    """The default run's Table 3: every declared row, upper bound above random."""
    from pathlib import Path

    reporting = Path(tiny_run["params"]["data_root"]) / "08_reporting"
    table = pd.read_csv(reporting / "table3_known_artist.csv").set_index("approach")
    rows = load_rows()
    expected = {rows[ns]["approach"] for ns in rows_of_table("known")}
    assert set(table.index) == expected
    assert np.isfinite(table["map_at_500"]).all()
    assert table.loc["upper-bound", "map_at_500"] > table.loc["random", "map_at_500"]
    assert (reporting / "table3_known_artist.md").read_text().count("\n| ") == len(table)


@pytest.mark.slow
def test_the_known_artist_pipeline_reruns_its_rows_alone(tiny_run: dict, tmp_path) -> None:
    """``kedro run --pipelines=known_artist`` on a copy of the run: its world, its own rows
    and Table 3; the rows of other templates are read back."""
    import shutil
    from pathlib import Path

    from kedro_runs import isolated_outputs, run_session

    data = tmp_path / "data"
    shutil.copytree(tiny_run["params"]["data_root"], data)
    params = {
        **isolated_outputs(tmp_path),
        "dataset_dir": tiny_run["params"]["dataset_dir"],
        "data_root": str(data),
    }
    rows_dir = data / "08_reporting" / "rows"

    def versions(ns: str) -> int:
        return len(list((rows_dir / ns / "row_result.json").iterdir()))

    known = rows_of_table("known")
    before = {ns: versions(ns) for ns in known}
    run_session(params, "known_artist")
    own = {"catalogue_mean_known", "attention_known", "random_known", "upper_bound_known"}
    for ns in known:
        assert versions(ns) == before[ns] + (ns in own), ns
    table = pd.read_csv(Path(data) / "08_reporting" / "table3_known_artist.csv")
    assert set(table["approach"]) == {load_rows()[ns]["approach"] for ns in known}


# --------------------------------------------------------------------------- serving


def test_known_track_candidates_are_table3_rows_served_in_the_served_wmf():
    from coldstart.releases.candidates import CandidateError, artefact_inputs, serving_rows
    from coldstart.rows import load_base_parameters

    parameters = load_base_parameters()
    rows = serving_rows(parameters, {"known_track": ["catalogue_mean_known", "mm_lf_lin_known"]})
    assert rows["catalogue_mean_known"]["kind"] == "catalogue_mean"
    assert rows["mm_lf_lin_known"]["kind"] == "twin"
    assert rows["mm_lf_lin_known"]["serves_with"] == "mm_lf_lin"
    # the twin's own model (and what it reads) is bundled; Table 3's networks are not
    assert {"mm_lf_lin", "a_sem", "audio"} <= set(rows)
    inputs = artefact_inputs(rows)
    assert "mm_lf_lin__model" in inputs and "mm_lf_lin_known__model" not in inputs
    assert inputs["catalogue_mean_known__training_history"] == (
        "catalogue_mean_known.training_history"
    )
    with pytest.raises(CandidateError, match="serves_with"):
        serving_rows(parameters, {"known_track": ["attention_known"]})


def test_catalogue_song_means_and_the_known_artist_row_choice():
    from types import SimpleNamespace

    from coldstart.pipelines.releases.nodes import catalogue_song_means
    from coldstart.releases.predict import _known_artist_row

    artists = pd.DataFrame({"artist_id": ["A", "B", "C"], "item_idx": [0, 1, 2]})
    songs = pd.DataFrame(
        {"artist_id": ["A", "A", "B", "Z"], "item_idx": [0, 1, 2, 3], "split": "train"}
    )
    factors = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, 5.0], [9.0, 9.0]], dtype=np.float32)
    means = catalogue_song_means(artists, songs, factors)
    np.testing.assert_allclose(means, [[2.0, 1.0], [0.0, 5.0], [0.0, 0.0]])
    rows = {
        "twin_row": {"kind": "twin", "serves_with": "mm_lf_lin", "requires": frozenset({"audio"})},
        "mean_row": {"kind": "catalogue_mean", "requires": frozenset({"catalogue_artist"})},
    }
    model = SimpleNamespace(
        ranking={"known_track": ["twin_row", "mean_row"]},
        rows=rows,
        catalogue_means=means,
        models={"mm_lf_lin": object()},
    )
    # the better Table 3 row serves when the track's content allows it, through its twin
    assert _known_artist_row(model, 0, frozenset({"audio", "biography"})) == "mm_lf_lin"
    assert _known_artist_row(model, 0, frozenset({"biography"})) == "mean_row"
    # an artist without songs with factors: no Table 3 row applies
    assert _known_artist_row(model, 2, frozenset({"biography"})) is None

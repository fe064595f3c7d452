"""Units of the releases stage: vectoriser state, release items, serving candidates."""

from __future__ import annotations

import base64
import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from coldstart.releases.candidates import CandidateError, artefact_inputs, serving_rows
from coldstart.releases.items import (
    ReleaseInputError,
    RequestLimits,
    format_tags,
    parse_tags,
    read_release_folder,
    validate_request,
)
from coldstart.rows import load_base_parameters
from coldstart.text.features import TagVectorizer, fit_tfidf
from coldstart.text.vectorizer_state import vectorizer_from_state, vectorizer_state

DOCS = [
    "Dub reggae from Kingston with heavy bass",
    "Post-punk band from Leeds, angular guitars",
    "Ambient drones and field recordings",
    "Kingston dancehall and dub plates",
]


# --------------------------------------------------------------------------- vectoriser state


def test_tfidf_state_round_trips_through_json() -> None:
    fitted = fit_tfidf(DOCS[:3], sublinear_tf=True, max_df=0.9, strip_accents="unicode")
    state = json.loads(json.dumps(vectorizer_state(fitted)))
    rebuilt = vectorizer_from_state(state)
    expected = fitted.transform(DOCS).toarray()
    np.testing.assert_array_equal(rebuilt.transform(DOCS).toarray(), expected)
    assert rebuilt.transform(DOCS).dtype == np.float32


def test_tag_state_round_trips_through_json() -> None:
    tags = pd.DataFrame(
        {
            "artist_id": ["a", "a", "b", "c", "c"],
            "tag": ["dub", "reggae", "dub", "ambient", "drone"],
            "weight": [100, 40, 80, 100, 3],
        }
    )
    fitted = TagVectorizer(max_df=1.0).fit(["a", "b", "c"], tags)
    rebuilt = vectorizer_from_state(json.loads(json.dumps(vectorizer_state(fitted))))
    ids = np.array(["c", "a", "b"])
    np.testing.assert_array_equal(
        rebuilt.transform(ids, tags).toarray(), fitted.transform(ids, tags).toarray()
    )


def test_vectorizer_state_refuses_code_and_inconsistent_states() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    with_code = TfidfVectorizer(tokenizer=str.split).fit(DOCS)
    with pytest.raises(TypeError, match="tokenizer"):
        vectorizer_state(with_code)
    state = vectorizer_state(fit_tfidf(DOCS))
    state["idf"] = state["idf"][:-1]
    with pytest.raises(ValueError, match="idf"):
        vectorizer_from_state(state)
    with pytest.raises(ValueError, match="unknown kind"):
        vectorizer_from_state({**vectorizer_state(fit_tfidf(DOCS)), "kind": "pickle"})


# --------------------------------------------------------------------------- items


def test_tags_parse_and_format() -> None:
    assert parse_tags("dub:100; roots reggae : 40;;", "x") == [
        ("dub", 100.0),
        ("roots reggae", 40.0),
    ]
    assert parse_tags("ambient", "x") == [("ambient", 100.0)]
    assert format_tags(parse_tags("a:1; b:2.5", "x")) == "a:1; b:2.5"
    with pytest.raises(ReleaseInputError, match=r"items\[2\]\.tags"):
        parse_tags("dub:loud", "items[2].tags")
    with pytest.raises(ReleaseInputError, match="0-100"):
        parse_tags("dub:250", "t")


def test_validate_request_names_the_field() -> None:
    ok = validate_request(
        pd.DataFrame([{"artist_id": "AR1", "biography": " x " * 10}]),
        RequestLimits(max_biography_chars=12),
    )
    assert list(ok.columns)[0] == "artist_id" and len(ok.loc[0, "biography"]) == 12
    cases = [
        (pd.DataFrame([{"artist_id": "AR1", "genre": "dub"}]), r"unknown field.*genre"),
        (pd.DataFrame([{"artist_id": "AR1"}, {"artist_id": ""}]), r"items\[1\]\.artist_id"),
        (
            pd.DataFrame([{"artist_id": "AR1", "track_id": "TR1", "audio_base64": "%%%"}]),
            r"items\[0\]\.audio_base64",
        ),
        (
            pd.DataFrame(
                [
                    {
                        "artist_id": "AR1",
                        "track_id": "TR1",
                        "audio_base64": base64.b64encode(b"x").decode(),
                        "audio_path": "/a.mp3",
                    }
                ]
            ),
            "not both",
        ),
        (pd.DataFrame(columns=["artist_id"]), "no items"),
    ]
    for frame, message in cases:
        with pytest.raises(ReleaseInputError, match=message):
            validate_request(frame, RequestLimits())


def _metadata(path, rows) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE songs (track_id, title, song_id, artist_id, artist_name)")
        db.executemany("INSERT INTO songs VALUES (?, ?, ?, ?, ?)", rows)


def test_release_folder_counts_what_it_drops(tmp_path, caplog) -> None:
    folder = tmp_path / "we#ird?%dir"
    (folder / "audio").mkdir(parents=True)
    bios = [
        {"artist_id": "AR1", "artist_name": "One", "biography": "Dub from [/x] Kingston"},
        {"artist_id": "AR1", "artist_name": "One", "biography": "a later duplicate"},
        {"artist_id": "AR2", "artist_name": "Two", "biography": ""},
        {"artist_id": "AR3", "artist_name": "Three", "biography": 42},
        {"artist_id": "AR4", "artist_name": "Four", "biography": "Only text, no track"},
    ]
    lines = [json.dumps(b) for b in bios] + ["{not json"]
    (folder / "artist_biographies.jsonl").write_text(
        "\ufeff" + "\n".join(lines) + "\n", encoding="utf-8"
    )
    (folder / "artist_tags.tsv").write_text(
        "artist_id\ttag\tweight\nAR1\tdub\t100\nAR2\tpost-punk\t60\nAR2\tbroken\nAR5\tx\tloud\n"
    )
    _metadata(
        folder / "track_metadata.db",
        [
            ("TR1", "t1", "SO1", "AR1", "One"),
            ("TR1", "dup", "SO1", "AR1", "One"),
            ("TR2", "t2", "SO2", "AR2", "Two"),
            ("TR3", "t3", "SO3", "ARX", "Known"),
        ],
    )
    (folder / "audio" / "TR1.mp3").write_bytes(b"not audio, decoded later")
    (folder / "audio" / "TR9.wav").write_bytes(b"")
    items, report = read_release_folder(folder)
    tracks = items[items["track_id"] != ""].set_index("track_id")
    assert list(tracks.index) == ["TR1", "TR2", "TR3"]
    assert tracks.loc["TR1", "biography"] == "Dub from [/x] Kingston"  # the BOM did not eat line 1
    assert tracks.loc["TR1", "audio_path"].endswith("TR1.mp3")
    assert tracks.loc["TR2", "tags"] == "post-punk:60" and tracks.loc["TR2", "biography"] == ""
    assert items.loc[items["track_id"] == "", "artist_id"].tolist() == ["AR4"]
    assert report["dropped"] == {
        "audio_without_metadata": 1,
        "biography_bad_json": 1,
        "biography_duplicate": 1,
        "biography_empty": 1,
        "biography_not_text": 1,
        "tag_bad_weight": 1,
        "tag_malformed": 1,
        "track_duplicate": 1,
    }
    assert "artist_biographies.jsonl:6" in caplog.text  # file and line of the bad JSON
    assert not (tmp_path / "we").exists()  # the odd path opened the right file, made none


def test_release_folder_drops_ids_that_are_not_utf8_and_never_merges_them(tmp_path, caplog) -> None:
    """Two ids that differ only in invalid bytes stay apart: both are dropped, counted,
    and quoted with file and line; valid ids around them are read as before."""
    folder = tmp_path / "releases"
    (folder / "audio").mkdir(parents=True)
    bio = '{{"artist_id": "{}", "biography": "{}"}}\n'
    (folder / "artist_biographies.jsonl").write_bytes(
        bio.format("AR1", "Dub from Kingston").encode()
        + bio.format("AR\xff", "first bad id").encode("latin-1")
        + bio.format("AR\xfe", "second bad id").encode("latin-1")
        + bio.format("AR2", "caf\xe9 text in latin-1").encode("latin-1")
        + b'{"artist_id": "AR\\udcff", "biography": "an escaped lone surrogate"}\n'
    )
    (folder / "artist_tags.tsv").write_bytes(
        b"AR1\tdub\t100\nAR\xff\trock\t100\nAR\xfe\tpop\t50\nAR2\tj\xe9zz\t80\n"
    )
    with sqlite3.connect(folder / "track_metadata.db") as db:
        db.execute("CREATE TABLE songs (track_id, title, song_id, artist_id, artist_name)")
        db.executemany(
            "INSERT INTO songs VALUES (?, ?, ?, ?, ?)",
            [
                ("TR1", "t1", "SO1", "AR1", "One"),
                (b"TR\xff", "bad track id", "SO2", "AR1", "One"),
                ("TR3", "t3", "SO3", b"AR\xff", "bad artist id"),
                ("TR4", b"caf\xe9", "SO4", "AR1", "One"),
            ],
        )
    (folder / "audio" / "TR1.mp3").write_bytes(b"x")
    (folder / "audio").joinpath(b"TR\xff.mp3".decode("utf-8", "surrogateescape")).write_bytes(b"x")
    items, report = read_release_folder(folder)
    assert sorted(items["artist_id"].unique()) == ["AR1", "AR2"]
    assert items["track_id"].tolist() == ["TR1", "TR4", ""]
    tracks = items.set_index("track_id")
    assert tracks.loc["TR1", "biography"] == "Dub from Kingston"
    assert tracks.loc["TR1", "tags"] == "dub:100"
    assert tracks.loc["TR4", "title"] == "caf\ufffd"  # text, not an id: kept, byte replaced
    artist_only = tracks.loc[""]
    assert artist_only["biography"] == "caf\ufffd text in latin-1"
    assert artist_only["tags"] == ""  # its only tag's name was not UTF-8
    assert report["dropped"] == {
        "audio_name_not_utf8": 1,
        "biography_id_not_utf8": 3,
        "biography_text_invalid_utf8_replaced": 1,
        "tag_id_not_utf8": 2,
        "tag_name_not_utf8": 1,
        "track_id_not_utf8": 2,
    }
    jsonl = folder / "artist_biographies.jsonl"
    for line in (2, 3, 5):
        assert f"{jsonl}:{line}" in caplog.text
    assert f"{folder / 'artist_tags.tsv'}:2" in caplog.text
    assert "songs row 2" in caplog.text and "songs row 3" in caplog.text
    assert "'AR\\udcff'" in caplog.text  # the id is quoted escaped, never printed raw
    items.to_parquet(tmp_path / "items.parquet")  # nothing left that cannot be stored


def test_release_folder_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="releases_dir"):
        read_release_folder(tmp_path / "absent")
    (tmp_path / "track_metadata.db").write_bytes(b"this is not sqlite")
    with pytest.raises(ValueError, match="track_metadata.db"):
        read_release_folder(tmp_path)


# --------------------------------------------------------------------------- candidates


def test_serving_rows_follow_the_row_parameters() -> None:
    parameters = load_base_parameters()
    rows = serving_rows(parameters, {"artist": ["a_tags"], "track": ["mm_lf_lin", "audio"]})
    assert rows["a_tags"]["requires"] == {"tags"}
    assert rows["mm_lf_lin"]["requires"] == {"biography", "audio"}
    assert (
        rows["mm_lf_lin"]["embedding_from"] == "a_sem" and "a_sem" in rows
    )  # its A' row comes along
    inputs = artefact_inputs(rows)
    assert inputs["a_sem__artist_embeddings"] == "a_sem.artist_embeddings"
    assert inputs["audio__model"] == "audio.model" and "audio__vectorizer" not in inputs
    for candidates, message in [
        ({"artist": ["text_rf"]}, "cannot serve"),
        ({"artist": ["mm_lf_lin"]}, "track-level"),
        ({"track": ["sem_vsm"]}, "only rows on A'"),
        ({"track": ["nope"]}, "not a results-table row"),
    ]:
        with pytest.raises(CandidateError, match=message):
            serving_rows(parameters, candidates)


# --------------------------------------------------------------------------- ranking


def _release_factors(n_items: int, rng: np.random.Generator) -> pd.DataFrame:
    factors = rng.standard_normal((n_items, 16)).astype(np.float32)
    factors /= np.linalg.norm(factors, axis=1, keepdims=True)
    return pd.DataFrame(
        {
            "level": "track",
            "item_id": [f"TR{i:03d}" for i in range(n_items)],
            "model": "audio",
            "factors": list(factors),
        }
    )


def test_rank_releases_tables_match_a_plain_ranking() -> None:
    from types import SimpleNamespace

    from coldstart.pipelines.releases.nodes import rank_releases

    rng = np.random.default_rng(3)
    factors = _release_factors(30, rng)
    users = rng.standard_normal((200, 16)).astype(np.float32)
    model = SimpleNamespace(
        user_ids=np.array([f"U{u:03d}" for u in range(200)]),
        user_factors={"track": users, "artist": users},
    )
    tracks, artists, audiences = rank_releases(factors, model, {"n_per_user": 5, "n_per_item": 7})
    scores = users @ np.stack(factors["factors"]).T
    best = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    got = tracks.pivot(index="user_id", columns="rank", values="item_id").to_numpy()
    np.testing.assert_array_equal(got, factors["item_id"].to_numpy()[best])
    assert artists.empty and list(artists.columns) == ["user_id", "item_id", "rank", "score"]
    top_users = np.argsort(-scores.T, axis=1, kind="stable")[:, :7]
    got = audiences.pivot(index="item_id", columns="rank", values="user_id").to_numpy()
    np.testing.assert_array_equal(got, model.user_ids[top_users])

    pytest.importorskip("faiss")
    faiss_audiences = rank_releases(
        factors,
        model,
        {"n_per_user": 5, "n_per_item": 7, "audience": {"method": "faiss", "nprobe": 64}},
    )[2]
    pairs = set(zip(faiss_audiences["item_id"], faiss_audiences["user_id"], strict=True))
    exact = set(zip(audiences["item_id"], audiences["user_id"], strict=True))
    assert len(pairs & exact) / len(exact) > 0.95  # nprobe >= cells: the exhaustive search
    with pytest.raises(ValueError, match="audience.method"):
        rank_releases(factors, model, {"audience": {"method": "annoy"}})

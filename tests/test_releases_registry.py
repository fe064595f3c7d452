"""Units of the release model's registration: the promotion gate and the version description."""

from __future__ import annotations

import pytest

from coldstart.releases.items import COLUMNS
from coldstart.releases.registry import (
    REQUEST_FIELDS,
    champion_from_tags,
    gate,
    quality_summary,
    request_limits,
    version_description,
    world_identity,
)


def _quality(track: float, artist: float, random: float = 0.01) -> dict:
    return {
        "k": 500,
        "levels": {
            "artist": {"map": artist, "random_map": random},
            "track": {"map": track, "random_map": random},
        },
    }


def _champion(quality: dict | None, world: str | None = "w1") -> dict:
    return {"version": "3", "quality": quality, "world": world}


def test_gate_needs_a_score_above_random_at_every_level() -> None:
    assert not gate(None, "w1", None, {}).promote
    decision = gate(_quality(track=0.01, artist=0.2), "w1", None, {})
    assert not decision.promote and "track MAP@500" in decision.reason
    assert gate(_quality(track=0.2, artist=0.2), "w1", None, {}).promote


def test_gate_compares_with_the_champion_on_the_same_world_only() -> None:
    champion = _champion(_quality(track=0.30, artist=0.20))
    worse = gate(_quality(track=0.29, artist=0.25), "w1", champion, {})
    assert not worse.promote and "below version 3" in worse.reason
    assert gate(
        _quality(track=0.29, artist=0.25), "w1", champion, {"champion_tolerance": 0.02}
    ).promote
    assert gate(_quality(track=0.30, artist=0.20), "w1", champion, {}).promote  # equal is not below
    other_world = gate(_quality(track=0.9, artist=0.9), "w2", champion, {})
    assert not other_world.promote and "another world" in other_world.reason
    assert gate(
        _quality(track=0.9, artist=0.9), "w2", champion, {"replace_champion_of_other_world": True}
    ).promote
    # still never below random, whatever the champion
    assert not gate(_quality(track=0.001, artist=0.9), "w1", _champion(None), {}).promote


def test_champion_is_read_back_from_its_tags() -> None:
    import json

    quality = _quality(track=0.3, artist=0.2)
    tags = {"coldstart.release_quality": json.dumps(quality), "coldstart.world_truth_sha256": "w1"}
    assert champion_from_tags("7", tags) == {"version": "7", "quality": quality, "world": "w1"}
    assert champion_from_tags("7", {}) == {"version": "7", "quality": None, "world": None}


def test_quality_summary_reads_the_release_quality_file() -> None:
    assert quality_summary({"scored": False, "reason": "no truth"}) is None
    release_quality = {
        "scored": True,
        "k": 500,
        "levels": {
            "track": {"model": {"map_at_500": 0.3}, "random": {"map_at_500": 0.01}},
        },
    }
    assert quality_summary(release_quality) == {
        "k": 500,
        "levels": {"track": {"map": 0.3, "random_map": 0.01}},
    }


def test_world_identity_is_the_truth_files_hash(tmp_path) -> None:
    assert world_identity(tmp_path) is None
    (tmp_path / "truth").mkdir()
    (tmp_path / "truth" / "plays.tsv").write_text("user_id\ttrack_id\tplays\n")
    first = world_identity(tmp_path)
    (tmp_path / "truth" / "plays.tsv").write_text("user_id\ttrack_id\tplays\nu\tt\t1\n")
    assert first is not None and world_identity(tmp_path) not in (None, first)


def test_description_lists_every_request_field_and_limit() -> None:
    assert set(REQUEST_FIELDS) == set(COLUMNS)  # one description per column a request may carry
    limits = request_limits(
        {"requests": {"max_items": 500, "nested": {"x": 1}, "audio_roots": ["/srv/audio"]}},
        {"max_biography_chars": 9},
    )
    assert limits == {"max_biography_chars": 9, "max_items": 500}
    text = version_description(_quality(0.3, 0.2), limits, serve_top_users=100)
    for name in COLUMNS:
        assert f"- {name}: " in text
    assert "- max_items: 500" in text and "- max_biography_chars: 9" in text
    assert "/srv/audio" not in text  # the operator's folders are not published
    assert "track: 0.3000 (0.0100)" in text


@pytest.mark.parametrize("scored", [True, False])
def test_description_without_quality_still_lists_the_request(scored: bool) -> None:
    text = version_description(
        _quality(0.3, 0.2) if scored else None, {"max_biography_chars": 1}, 10
    )
    assert "dataframe_records" in text and ("MAP@500" in text) == scored

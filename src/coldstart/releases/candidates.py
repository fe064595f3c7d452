"""Which results-table rows may serve new releases, and what each one needs.

``releases.candidates`` (``conf/base/parameters_releases.yml``) lists rows per
level. What a row reads follows from its own parameter block: a text row reads
its ``features.source`` (a biography, the enriched biography or tags), a song row
on A' reads what the row that makes that A' reads, a late-fusion row adds audio,
the audio row reads audio alone. Pure functions of parameter dicts, so the
pipeline is wired from the same answer the training node gives.

``releases.candidates.known_track`` lists Table 3 rows (docs/known_artist.md): they
rank, by their Table 3 validation loss, how a new track of a catalogue artist is
served. The catalogue-mean row is served from the catalogue's own song factors;
a Table 3 row that names ``row.serves_with`` (a Table 2 row of the same method,
trained on the whole catalogue) is served by that row's model, since its own
network predicts the factors of Table 3's WMF, not of the served one.
"""

from __future__ import annotations

from typing import Any

#: The content of an item a row may need (``catalogue_artist``: its artist has history).
CONTENT = ("biography", "tags", "audio", "catalogue_artist")
#: The candidate lists: new artists, new tracks, and new tracks of catalogue artists.
CANDIDATE_LEVELS = ("artist", "track", "known_track")
SERVABLE_TEMPLATES = {
    "text_ff": "text",
    "song_ff": "song_ff",
    "late_fusion": "late_fusion",
    "audio_cnn": "audio",
}


class CandidateError(ValueError):
    """``releases.candidates`` names a row that cannot serve releases."""


def _row_block(parameters: dict[str, Any], ns: str) -> dict[str, Any]:
    block = parameters.get(ns)
    if not isinstance(block, dict) or not isinstance(block.get("row"), dict):
        raise CandidateError(f"releases.candidates: '{ns}' is not a results-table row")
    if not block["row"].get("enabled", True):
        raise CandidateError(f"releases.candidates: row '{ns}' is disabled (row.enabled: false)")
    return block


def known_track_spec(parameters: dict[str, Any], ns: str) -> dict[str, Any]:
    """What Table 3 row ``ns`` is for serving a new track of a catalogue artist."""
    row = _row_block(parameters, ns)["row"]
    spec: dict[str, Any] = {
        "approach": str(row["approach"]),
        "level": "known_track",
        "order": row.get("order"),
    }
    if row["template"] == "catalogue_mean":
        return {**spec, "kind": "catalogue_mean", "requires": frozenset({"catalogue_artist"})}
    twin = row.get("serves_with")
    if not twin:
        raise CandidateError(
            f"releases.candidates.known_track: Table 3 row '{ns}' (template {row['template']}) "
            "has no row.serves_with: name the Table 2 row whose model serves its method, or "
            "leave it out"
        )
    served = row_spec(parameters, str(twin))
    if served["level"] != "track":
        raise CandidateError(f"row '{ns}': row.serves_with '{twin}' is not a song-level row")
    return {**spec, "kind": "twin", "serves_with": str(twin), "requires": served["requires"]}


def row_spec(parameters: dict[str, Any], ns: str) -> dict[str, Any]:
    """What row ``ns`` is for serving: kind, level, source, A' row, required content."""
    block = _row_block(parameters, ns)
    row = block["row"]
    if row["table"] == "known":
        return known_track_spec(parameters, ns)
    kind = SERVABLE_TEMPLATES.get(row["template"])
    if kind is None:
        raise CandidateError(
            f"releases.candidates: row '{ns}' (template {row['template']}) cannot serve new "
            f"releases; rows of the templates {sorted(SERVABLE_TEMPLATES)} can"
        )
    spec: dict[str, Any] = {
        "approach": str(row["approach"]),
        "level": "artist" if row["table"] == "artist" else "track",
        "kind": kind,
        "order": row.get("order"),
    }
    if kind == "text":
        source = (block.get("features") or {}).get("source", "biography")
        spec["source"] = source
        spec["requires"] = frozenset({"tags"} if source == "tags" else {"biography"})
        spec["makes_embeddings"] = bool(row.get("artist_embeddings", False))
    elif kind == "audio":
        spec["requires"] = frozenset({"audio"})
    else:
        if kind == "song_ff" and row.get("features") != "embeddings":
            raise CandidateError(
                f"releases.candidates: song row '{ns}' reads a {row.get('features')!r} input; "
                "only rows on A' (features: embeddings) serve releases"
            )
        source = row.get("artist_embeddings_from")
        upstream = row_spec(parameters, source)
        if upstream["kind"] != "text" or not upstream["makes_embeddings"]:
            raise CandidateError(f"row '{ns}' reads A' of '{source}', which makes none")
        spec["embedding_from"] = source
        spec["requires"] = upstream["requires"] | (
            frozenset({"audio"}) if kind == "late_fusion" else frozenset()
        )
        if kind == "late_fusion" and row.get("track_embeddings_from", "audio") != "audio":
            raise CandidateError(
                f"row '{ns}': only T' of the 'audio' row can be computed for releases"
            )
    return spec


def _skipped_by_this_run(parameters: dict[str, Any], ns: str) -> bool:
    """Whether row ``ns`` was switched off for this run (:mod:`coldstart.rows`: ``skipped``)."""
    block = parameters.get(ns)
    return isinstance(block, dict) and bool((block.get("row") or {}).get("skipped"))


def serving_rows(
    parameters: dict[str, Any], candidates: dict[str, list[str]]
) -> dict[str, dict[str, Any]]:
    """Every row the candidates need (themselves, their A' rows, the audio row), specified.

    Raises
    ------
    CandidateError
        A candidate that is not a row, is disabled, is of a template that cannot
        serve, or sits at the wrong level.
    """
    rows: dict[str, dict[str, Any]] = {}
    for level in CANDIDATE_LEVELS:
        for ns in candidates.get(level) or []:
            if _skipped_by_this_run(parameters, ns):
                continue  # switched off for this run (a dataset without audio, say)
            spec = row_spec(parameters, ns)
            if spec["level"] != level:
                raise CandidateError(
                    f"releases.candidates.{level}: '{ns}' is a {spec['level']}-level row"
                )
            rows[ns] = spec
    for spec in list(rows.values()):
        if "serves_with" in spec:
            rows.setdefault(spec["serves_with"], row_spec(parameters, spec["serves_with"]))
    for spec in list(rows.values()):
        if "embedding_from" in spec:
            rows.setdefault(spec["embedding_from"], row_spec(parameters, spec["embedding_from"]))
        if "audio" in spec["requires"] and spec["kind"] not in ("audio", "twin"):
            rows.setdefault("audio", row_spec(parameters, "audio"))
    return rows


def artefact_inputs(rows: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The catalog datasets the release model is built from, by node argument name."""
    inputs: dict[str, str] = {}
    for ns, spec in rows.items():
        if spec["level"] != "known_track":  # Table 3 rows lend a validation loss, not a model
            inputs[f"{ns}__model"] = f"{ns}.model"
        inputs[f"{ns}__training_history"] = f"{ns}.training_history"
        inputs[f"{ns}__parameters"] = f"params:{ns}"
        if spec["kind"] == "text":
            inputs[f"{ns}__vectorizer"] = f"{ns}.vectorizer"
            if spec["makes_embeddings"]:
                inputs[f"{ns}__artist_embeddings"] = f"{ns}.artist_embeddings"
    return inputs

"""Predicted factors for new artists and tracks, from whatever content they have.

An item is served by the best row (lowest validation loss at training time,
:attr:`ReleaseModel.ranking`) whose inputs its content provides:

* a new artist with a biography and/or tags gets artist factors from a text row
  (a-sem, a-tags, a-text by default);
* a new track gets song factors from a fusion row when its artist's text (or the
  catalogue's A' for a known artist) and its audio are there, from an A'-only row
  when there is no audio, and from the audio row when there is no text.

Every prediction uses the row's own model and preprocessing -- the same
vectoriser, the same enrichment, the same patch averaging -- so a catalogue item
fed in as "new" gets the factors the row predicted for it during training.
"""

from __future__ import annotations

import base64
import logging
import tempfile
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from rich.markup import escape

from coldstart.models.common import l2_normalise
from coldstart.releases.bundle import ReleaseModel
from coldstart.releases.items import (
    ReleaseInputError,
    RequestLimits,
    RequestTooLarge,
    check_audio_header,
    open_request_audio,
    parse_tags,
    request_rules,
)

logger = logging.getLogger(__name__)

PREDICT_BATCH_SIZE = 256
#: Up to this many rows a network runs one predict step directly; more go through
#: ``predict``, whose ``tf.data`` set-up costs tens of milliseconds per call.
DIRECT_CALL_MAX_ROWS = 1024
OUTPUT_COLUMNS = (
    "level",
    "item_id",
    "artist_id",
    "track_id",
    "name",
    "model",
    "approach",
    "content",
    "factors",
)


class _SpectrogramsInMemory:
    """The one method of :class:`coldstart.audio.store.FeatureStore` prediction uses."""

    def __init__(self, spectrograms: dict[str, np.ndarray]) -> None:
        self._spectrograms = spectrograms

    def load(self, key: str) -> np.ndarray:
        return self._spectrograms[key]


def _csr(matrix: Any) -> sp.csr_matrix:
    """float32 CSR, duplicates summed and indices sorted, as the text rows feed Keras."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


def _artist_content(records: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Per artist of the items: the first non-empty name, biography and tags.

    Artists in the order they first appear. A plain loop: a request has a handful of
    rows, for which a pandas group-by costs milliseconds of fixed overhead.
    """
    fields = ("artist_name", "biography", "tags")
    firsts: dict[str, dict[str, str]] = {}
    for record in records:
        artist_id = record["artist_id"]
        if not artist_id:
            continue
        seen = firsts.setdefault(artist_id, dict.fromkeys(fields, ""))
        for name in fields:
            value = record[name]
            if not seen[name] and isinstance(value, str) and value:
                seen[name] = value
    return firsts


def forward(network: Any, inputs: Any) -> np.ndarray:
    """``network``'s output for ``inputs`` (an array, a sparse matrix or a dict of them).

    A small batch goes straight to the network's predict step (``predict_on_batch``:
    no ``tf.data`` pipeline); a large one through ``predict`` in batches. Sparse
    inputs are densified for the direct call: the networks' inputs are dense layers.
    """

    def dense(x: Any) -> np.ndarray:
        return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32)

    n_rows = (next(iter(inputs.values())) if isinstance(inputs, dict) else inputs).shape[0]
    if n_rows > DIRECT_CALL_MAX_ROWS:
        return np.asarray(network.predict(inputs, batch_size=PREDICT_BATCH_SIZE, verbose=0))
    if isinstance(inputs, dict):
        batch: Any = {name: dense(x) for name, x in inputs.items()}
    elif isinstance(network.input, list):  # built from ``model.inputs``: [A'-layer sub-models]
        batch = [dense(inputs)]
    else:
        batch = dense(inputs)
    # the network's compiled predict step on this one batch: a few times faster than an
    # eager call on small batches (traced once per new batch shape, then shape-generic)
    return np.asarray(network.predict_on_batch(batch))


class PredictionRuntime:
    """What predicting with one release model builds once and reuses for every call.

    The knowledge base and the offline linker (opened on first use: parsing the
    Turtle file is the slow part of enriching a biography), and the A' sub-models
    of the text rows. The served model keeps one for its lifetime; the pipeline
    builds one per run.
    """

    def __init__(self, model: ReleaseModel) -> None:
        self.model = model
        #: catalogue artist id -> its row in the A' tables
        self.catalogue: dict[str, int] = dict(
            zip(
                model.catalogue_artists["artist_id"].tolist(),
                model.catalogue_artists["item_idx"].tolist(),
                strict=True,
            )
        )
        self._knowledge_base: Any = None
        self._linker: Any = None
        self._embedding_models: dict[str, Any] = {}

    def embedding_model(self, ns: str) -> Any:
        """Row ``ns``'s network up to its A' layer (built once)."""
        from coldstart.models.text_models import EMBEDDING_LAYER, layer_model

        if ns not in self._embedding_models:
            self._embedding_models[ns] = layer_model(self.model.models[ns], EMBEDDING_LAYER)
        return self._embedding_models[ns]

    def _open_enrichment(self) -> None:
        from coldstart.enrichment import EnrichmentConfig, make_linker, open_knowledge_base

        config = EnrichmentConfig.from_params(self.model.settings["semantic_enrichment"])
        self._knowledge_base = open_knowledge_base(config, self.model.knowledge_base)
        self._linker = make_linker(config, self._knowledge_base, None)

    def enriched_biographies(self, artists: pd.DataFrame) -> list[str]:
        """The biographies with their knowledge-base terms appended, as training did."""
        from coldstart.enrichment import (
            EnrichmentConfig,
            NullCache,
            enrich_texts,
            link_artists,
            lookup_entities,
            select_facts,
        )

        if self._linker is None:
            self._open_enrichment()
        config = EnrichmentConfig.from_params(self.model.settings["semantic_enrichment"])
        table = artists[["artist_id", "biography"]].reset_index(drop=True)
        # prediction never writes a cache of its own, and has no bar to draw
        mentions, _ = link_artists(
            table, self._linker, NullCache(), allow_partial=config.allow_partial, progress=False
        )
        rows, _ = lookup_entities(
            mentions["entity"].tolist(),
            self._knowledge_base,
            NullCache(),
            classes=config.classes,
            properties=config.all_properties(),
            categories=config.categories,
            batch_size=config.batch_size,
            allow_partial=config.allow_partial,
            progress=False,
        )
        facts = select_facts(rows, config.classes, config.properties, config.categories)
        enriched = enrich_texts(table, mentions, facts, object_terms=config.object_terms)
        return enriched["biography_enriched"].tolist()

    def close(self) -> None:
        """Release the knowledge base and the linker."""
        for backend in (self._linker, self._knowledge_base):
            if backend is not None:
                backend.close()
        self._linker = self._knowledge_base = None


def _text_inputs(
    runtime: PredictionRuntime, needed: set[str], artists: pd.DataFrame
) -> dict[str, Any]:
    """Per text row in ``needed``: its VSM of ``artists``.

    Every artist's tags are parsed (a bad weight is refused whichever row serves);
    the knowledge base is consulted only when a needed row reads the enriched biography.
    """
    model = runtime.model
    tag_lists = [
        parse_tags(text, f"tags of artist {artist_id}")
        for artist_id, text in zip(artists["artist_id"], artists["tags"], strict=True)
    ]
    needed = {ns for ns in needed if model.rows[ns]["kind"] == "text" and ns in model.vectorizers}
    documents: dict[str, list[str]] = {"biography": artists["biography"].tolist()}
    if (
        any(model.rows[ns]["source"] == "enriched" for ns in needed)
        and (artists["biography"] != "").any()
    ):
        documents["enriched"] = runtime.enriched_biographies(artists)
    inputs = {}
    for ns in sorted(needed):
        vectorizer, source = model.vectorizers[ns], model.rows[ns]["source"]
        if source == "tags":
            inputs[ns] = _csr(vectorizer.transform_lists(tag_lists))
        elif source in documents:
            inputs[ns] = _csr(vectorizer.transform(documents[source]))
    return inputs


def _first_served(ranking: list[str], rows: dict[str, dict], content: frozenset[str]) -> str | None:
    return next((ns for ns in ranking if rows[ns]["requires"] <= content), None)


def _known_artist_row(model: ReleaseModel, artist_row: int, content: frozenset[str]) -> str | None:
    """The row serving a new track of a catalogue artist: the best Table 3 row it allows.

    ``ranking["known_track"]`` holds Table 3 rows by their validation loss; the
    catalogue mean serves when the artist has songs with factors, a row with a
    Table 2 twin (``serves_with``) through that twin when the track's content
    meets it. None: no Table 3 row applies (the track-level ranking decides).
    """
    for ns in model.ranking.get("known_track", []):
        spec = model.rows[ns]
        if spec["kind"] == "catalogue_mean":
            means = model.catalogue_means
            if means is not None and np.any(means[artist_row]):
                return ns
        elif spec["requires"] <= content and spec["serves_with"] in model.models:
            return str(spec["serves_with"])
    return None


def _decode_audio(
    row: dict[str, Any], config: Any, min_duration_s: float, features: bool = True
) -> np.ndarray | None:
    """The log-CQT of a releases-folder item's audio, as the feature store holds it.

    With ``features=False`` the audio is decoded and checked usable (as for its
    spectrogram: decodable, long enough, not silent) and None is returned.
    """
    from coldstart.audio.features import check_signal, load_audio, signal_to_features

    def from_file(path: str) -> np.ndarray | None:
        y, duration = load_audio(path, config.sample_rate)
        if not features:
            check_signal(y, duration, min_duration_s, path)
            return None
        # the training store keeps this dtype: the same values give the same factors
        return signal_to_features(y, duration, config, min_duration_s, path).astype(config.dtype)

    if row["audio_path"]:
        return from_file(row["audio_path"])
    with tempfile.NamedTemporaryFile(suffix=".audio") as handle:
        handle.write(base64.b64decode(row["audio_base64"]))
        handle.flush()
        return from_file(handle.name)


def decode_request_audio(
    row: dict[str, Any],
    config: Any,
    min_duration_s: float,
    rules: tuple[RequestLimits, tuple[str, ...]],
    where: str,
    seconds_left: float,
    *,
    features: bool = True,
) -> tuple[np.ndarray | None, float]:
    """The log-CQT of a request item's audio and its duration, decoding within the limits.

    The item passed :func:`~coldstart.releases.items.validate_request`; its file is
    opened and checked again here (what is read is what was checked), and decoding
    stops at ``max_duration_s`` or at what is left of the request's
    ``max_request_duration_s``, whichever is less, whatever the header said. With
    ``features=False`` the audio is decoded and checked (decodable, long enough, not
    silent) but no spectrogram is computed: None in its place.
    """
    from coldstart.audio.features import (
        AudioTooLong,
        check_signal,
        load_audio_capped,
        signal_to_features,
    )

    limits, roots = rules
    field = f"{where}.{'audio_path' if row['audio_path'] else 'audio_base64'}"
    cap = min(limits.max_duration_s, seconds_left)
    with open_request_audio(row, limits, roots, where) as handle:
        check_audio_header(handle, limits, field)
        try:
            y, duration = load_audio_capped(handle, config.sample_rate, cap)
        except AudioTooLong:
            raise RequestTooLarge(
                f"{field}: more audio than its header said, over "
                f"{'max_duration_s' if cap == limits.max_duration_s else 'max_request_duration_s'}"
                f" ({cap:g} s here); decoding stopped there"
            ) from None
    if not features:
        check_signal(y, duration, min_duration_s, field)
        return None, duration
    spectrogram = signal_to_features(y, duration, config, min_duration_s, field)
    return spectrogram.astype(config.dtype), duration


def _track_audio(
    model: ReleaseModel,
    tracks: list[tuple[int, dict[str, Any]]],
    strict: bool,
    drops: Counter,
    rules: tuple[RequestLimits, tuple[str, ...]] | None = None,
    features_for: set[str] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], set[str]]:
    """Audio factors and T' per track id, and the ids of the tracks whose audio is usable.

    With ``rules`` (a request's limits and audio roots) each item's audio is
    decoded within them; without, as the releases folder's files always are.
    Every track's audio is decoded and checked; only those in ``features_for``
    (None: all) get a spectrogram and a pass through the audio network. ``tracks``
    holds each track item's position in the request and its fields.
    """
    from coldstart.audio.features import AudioError, CQTConfig
    from coldstart.models.audio_cnn import EMBEDDING_LAYER, FACTORS_LAYER, predict_track_outputs

    wanted = [(i, row) for i, row in tracks if row["audio_path"] or row["audio_base64"]]
    if not wanted or "audio" not in model.models:
        return {}, {}, set()
    settings = model.settings["audio_features"]
    config = CQTConfig.from_params(settings)
    spectrograms: dict[str, np.ndarray] = {}
    usable: set[str] = set()
    min_duration_s = float(settings.get("min_duration_s", 3.0))
    seconds_left = rules[0].max_request_duration_s if rules else 0.0
    for position, row in wanted:
        field = "audio_path" if row["audio_path"] else "audio_base64"
        features = features_for is None or row["track_id"] in features_for
        try:
            if rules is None:
                spectrogram = _decode_audio(row, config, min_duration_s, features)
            else:
                spectrogram, seconds = decode_request_audio(
                    row,
                    config,
                    min_duration_s,
                    rules,
                    f"items[{position}]",
                    seconds_left,
                    features=features,
                )
                seconds_left -= seconds
            usable.add(row["track_id"])
            if spectrogram is not None:
                spectrograms[row["track_id"]] = spectrogram
        except ReleaseInputError:
            raise
        except Exception as error:  # noqa: BLE001 - a decoder failing on one file is that file's fault
            reason = error.reason if isinstance(error, AudioError) else "undecodable"
            if strict:
                raise ReleaseInputError(
                    f"items[{position}].{field}: {reason} audio ({error})"
                ) from None
            drops[f"audio_{reason}"] += 1
            logger.warning(
                "Release track %s: audio %s (%s); predicted without it",
                escape(row["track_id"]),
                reason,
                escape(str(error)),
            )
    if not spectrograms:
        return {}, {}, usable
    patches = model.settings["patches"]
    keys = list(spectrograms)
    outputs = predict_track_outputs(
        model.models["audio"],
        _SpectrogramsInMemory(spectrograms),
        keys,
        model.audio_mean,
        model.audio_std,
        hop_frames=int(patches.get("predict_hop_frames", 161)),
        trim=float(patches.get("predict_trim", 0.15)),
        batch_size=int(patches.get("predict_batch_size", 64)),
    )
    factors = l2_normalise(outputs[FACTORS_LAYER])
    return (
        dict(zip(keys, factors, strict=True)),
        dict(zip(keys, outputs[EMBEDDING_LAYER], strict=True)),
        usable,
    )


def _serving_row(
    model: ReleaseModel, catalogue: Any, artist_id: str, content: frozenset[str]
) -> str | None:
    """The row serving a track: a catalogue artist's best Table 3 row, else the track ranking's."""
    ns = None
    if artist_id in catalogue:
        ns = _known_artist_row(model, int(catalogue[artist_id]), content)
    return ns or _first_served(model.ranking["track"], model.rows, content)


def _row_reads_audio(
    model: ReleaseModel, catalogue: Any, artist_id: str, text: frozenset[str]
) -> bool:
    """Whether a track with this text content and usable audio is served by a row on audio."""
    ns = _serving_row(model, catalogue, artist_id, text | {"audio"})
    return ns is not None and "audio" in model.rows[ns]["requires"]


def _content_label(content: frozenset[str]) -> str:
    return "+".join(sorted(content)) or "none"


def predict_releases(
    model: ReleaseModel,
    items: pd.DataFrame,
    *,
    strict: bool,
    rules: tuple[RequestLimits, tuple[str, ...]] | None = None,
    runtime: PredictionRuntime | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Factors of every new artist and track in ``items`` and the model behind each.

    Parameters
    ----------
    model
        The release model (:func:`coldstart.releases.bundle.read_bundle`).
    items
        A ``release_items`` table (:mod:`coldstart.releases.items`).
    strict
        Raise :class:`ReleaseInputError` for an item that cannot be served (a
        request); otherwise drop it and count why (a releases folder).
    rules
        A request's limits and allowed audio roots
        (:func:`~coldstart.releases.items.request_rules`): audio is opened and
        decoded within them. When ``strict`` and not given, the model's own
        (``releases.requests`` of the run that built it): a request is never
        decoded without them. A releases folder (not ``strict``) is the operator's
        own files, decoded as in training.
    runtime
        What earlier calls built for ``model`` (the served model passes its own);
        None builds one for this call.

    Returns
    -------
    predictions, log
        One row per predicted item (:data:`OUTPUT_COLUMNS`; ``factors`` a float32
        array, L2-normalised) and counts by level, model, content and drop reason.
    """
    from coldstart.models.fusion_models import ARTIST_INPUT, TRACK_INPUT

    if strict and rules is None:
        rules = request_rules(model.settings)
    if runtime is None:
        runtime = PredictionRuntime(model)
        try:
            return predict_releases(model, items, strict=strict, rules=rules, runtime=runtime)
        finally:
            runtime.close()
    # plain records from here on: a request has a handful of items, and each pandas
    # filter or row access costs more than the Python it replaces
    records: list[dict[str, Any]] = items.to_dict("records")
    drops: Counter[str] = Counter()
    catalogue = runtime.catalogue
    new_content = {a: c for a, c in _artist_content(records).items() if a not in catalogue}
    new_artists = pd.DataFrame(
        [{"artist_id": a, **c} for a, c in new_content.items()],
        columns=["artist_id", "artist_name", "biography", "tags"],
    )
    content_of = {
        a: frozenset(name for name in ("biography", "tags") if c[name])
        for a, c in new_content.items()
    }
    position = {a: i for i, a in enumerate(new_content)}
    tracks = [(i, row) for i, row in enumerate(records) if row["track_id"]]
    if strict:
        for i, row in enumerate(records):
            if row["track_id"]:
                continue
            if row["artist_id"] in catalogue:
                raise ReleaseInputError(
                    f"items[{i}]: artist_id {row['artist_id']!r} is in the catalogue (it has "
                    "factors from its listening history); send its new tracks with a track_id"
                )
            if not content_of.get(row["artist_id"]):
                raise ReleaseInputError(
                    f"items[{i}]: no biography, no tags and no track: nothing to recommend "
                    f"for artist_id {row['artist_id']!r}"
                )

    # ---- which row serves each item (from its content), before any network runs
    chosen: dict[str, list[str]] = {}
    for artist_id, content in content_of.items():
        ns = _first_served(model.ranking["artist"], model.rows, content)
        if ns is None:
            drops["artist_without_text"] += 1
            continue
        chosen.setdefault(ns, []).append(artist_id)

    def text_content(artist_id: str) -> frozenset[str]:
        # a catalogue artist has every A' the training computed
        if artist_id in catalogue:
            return frozenset({"biography", "tags"})
        return content_of.get(artist_id, frozenset())

    # a track whose best row given its audio reads no audio (a text row ranks above every
    # row on audio) is served the same without it: its audio is decoded and checked, but
    # no spectrogram is computed and the audio network does not run for it
    reads_audio = {
        row["track_id"]
        for _, row in tracks
        if _row_reads_audio(model, catalogue, row["artist_id"], text_content(row["artist_id"]))
    }
    audio_factors, t_prime, usable_audio = _track_audio(
        model, tracks, strict, drops, rules, features_for=reads_audio
    )
    served: dict[str, list[int]] = {}
    track_content: dict[int, frozenset[str]] = {}
    for i, row in tracks:
        artist_id = row["artist_id"]
        text = text_content(artist_id)
        content = text | ({"audio"} if row["track_id"] in usable_audio else frozenset())
        ns = _serving_row(model, catalogue, artist_id, frozenset(content))
        if ns is None:
            if strict:
                field = "audio" if (row["audio_path"] or row["audio_base64"]) else "content"
                raise ReleaseInputError(
                    f"items[{i}]: nothing usable to predict track {row['track_id']!r} ({field}): "
                    f"no biography, tags or decodable audio, and artist_id {artist_id!r} is not "
                    "in the catalogue"
                )
            drops["track_without_usable_content"] += 1
            continue
        served.setdefault(ns, []).append(i)
        track_content[i] = frozenset(content) | (
            frozenset({"catalogue_artist"}) if artist_id in catalogue else frozenset()
        )
    # A' is computed only for the rows and the new artists the served tracks read
    a_prime_needed: dict[str, set[str]] = {}
    for ns, positions in served.items():
        if model.rows[ns]["kind"] not in ("audio", "catalogue_mean"):
            a_prime_needed.setdefault(model.rows[ns]["embedding_from"], set()).update(
                records[i]["artist_id"] for i in positions
            )
    text_inputs = (
        _text_inputs(runtime, set(chosen) | set(a_prime_needed), new_artists)
        if len(new_artists)
        else {}
    )

    out: list[dict[str, Any]] = []

    # ---- artist level: new artists with text
    for ns, ids in chosen.items():
        rows = np.array([position[a] for a in ids])
        predicted = forward(model.models[ns], text_inputs[ns][rows])
        for artist_id, factors in zip(ids, l2_normalise(predicted), strict=True):
            name = new_content[artist_id]["artist_name"]
            out.append(
                {
                    "level": "artist",
                    "item_id": artist_id,
                    "artist_id": artist_id,
                    "track_id": "",
                    "name": name,
                    "model": ns,
                    "approach": model.rows[ns]["approach"],
                    "content": _content_label(content_of[artist_id]),
                    "factors": factors,
                }
            )

    # ---- A' of each served track's artist, per source row
    a_prime: dict[str, dict[str, np.ndarray]] = {}
    for ns, artist_ids in a_prime_needed.items():
        vectors: dict[str, np.ndarray] = {}
        new = [a for a in position if a in artist_ids]
        if new:
            rows = np.array([position[a] for a in new])
            embedded = forward(runtime.embedding_model(ns), text_inputs[ns][rows])
            vectors.update(zip(new, np.asarray(embedded, np.float32), strict=True))
        for artist_id in artist_ids & set(catalogue):
            vectors[artist_id] = model.artist_embeddings[ns][int(catalogue[artist_id])]
        a_prime[ns] = vectors

    # ---- track level
    for ns, positions in served.items():
        row = model.rows[ns]
        group = [records[i] for i in positions]
        if row["kind"] == "audio":
            factors = np.stack([audio_factors[t["track_id"]] for t in group])
        elif row["kind"] == "catalogue_mean":
            means = model.catalogue_means[[int(catalogue[t["artist_id"]]) for t in group]]
            factors = l2_normalise(np.asarray(means, np.float32))
        else:
            artist_inputs = np.stack(
                [a_prime[row["embedding_from"]][t["artist_id"]] for t in group]
            )
            if row["kind"] == "late_fusion":
                inputs: Any = {
                    ARTIST_INPUT: artist_inputs,
                    TRACK_INPUT: np.stack([t_prime[t["track_id"]] for t in group]),
                }
            else:
                inputs = artist_inputs
            factors = l2_normalise(forward(model.models[ns], inputs))
        for position_, record, vector in zip(positions, group, factors, strict=True):
            out.append(
                {
                    "level": "track",
                    "item_id": record["track_id"],
                    "artist_id": record["artist_id"],
                    "track_id": record["track_id"],
                    "name": record["title"],
                    "model": ns,
                    "approach": row["approach"],
                    "content": _content_label(track_content[position_]),
                    "factors": np.asarray(vector, np.float32),
                }
            )

    predictions = pd.DataFrame(out, columns=list(OUTPUT_COLUMNS))
    by_model = Counter((p["level"], p["model"]) for p in out)
    by_content = Counter((p["level"], p["content"]) for p in out)
    log = {
        "predicted": dict(sorted(Counter(p["level"] for p in out).items())),
        "by_model": [
            {"level": level, "model": ns, "n": n} for (level, ns), n in sorted(by_model.items())
        ],
        "by_content": [
            {"level": level, "content": content, "n": n}
            for (level, content), n in sorted(by_content.items())
        ],
        "dropped": dict(sorted(drops.items())),
    }
    return predictions, log


def factor_matrix(predictions: pd.DataFrame, level: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The predictions of one level and their factors stacked (float32, one row each)."""
    part = predictions[predictions["level"] == level].reset_index(drop=True)
    if part.empty:
        return part, np.zeros((0, 0), np.float32)
    return part, np.stack([np.asarray(f, np.float32) for f in part["factors"]])

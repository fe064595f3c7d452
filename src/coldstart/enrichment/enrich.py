"""The enrichment itself: link every biography, look up every entity, append terms.

Plain functions over pandas tables, used by the Kedro nodes of the
``semantic_enrichment`` pipeline and callable on their own.

Resilience: results of remote backends are cached per request, per artist and
per entity as soon as they arrive (atomically). When a service becomes unusable (quota,
outage) the loop stops calling it, still collects what the cache holds, and
then either raises :class:`~coldstart.enrichment.remote.EnrichmentIncompleteError`
saying how many are left (default) or, with ``allow_partial``, carries on with
the un-linked items left un-enriched. A rerun resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from coldstart.logsafe import plain, quoted

from .cache import DiskCache, NullCache
from .iri import InvalidIRIError, validate_iri
from .knowledge_base import KnowledgeBase, entity_facts_query, ontology_iri
from .linking import EntityLinker, Mention
from .remote import (
    EnrichmentIncompleteError,
    QuotaExceededError,
    RemoteRequestError,
    RemoteUnavailableError,
)
from .terms import DCT_SUBJECT, RDF_TYPE, fact_term, iri_term, local_name

logger = logging.getLogger(__name__)

MENTION_COLUMNS = ["artist_id", "start", "end", "surface", "entity", "synset_id", "score", "source"]
FACT_COLUMNS = ["entity", "kind", "predicate", "object", "object_kind"]


def _progress(iterable: Iterable, total: int, desc: str, enabled: bool) -> Iterable:
    """A console bar (when ``enabled``) and, for a long loop, lines in the log file."""
    from tqdm.auto import tqdm

    from coldstart.progress import ProgressLog

    lines = ProgressLog(total, desc, unit="items", logger=logger)
    for item in tqdm(
        iterable, total=total, desc=desc, unit="item", disable=not enabled, leave=False
    ):
        yield item
        lines.advance()
    lines.close()


def _stop_message(
    what: str,
    error: RemoteUnavailableError,
    done: int,
    total: int,
    left: int,
    cache: DiskCache | NullCache,
) -> str:
    hint = (
        "The daily quota is used up: rerun when it resets (or with another key)."
        if isinstance(error, QuotaExceededError)
        else "Rerun when the service is reachable again."
    )
    where = f" in {cache.directory}" if cache.directory is not None else ""
    return (
        f"{what} stopped: {error}. {done} of {total} are done and cached{where}; "
        f"{left} still to do. {hint} A rerun resumes from the cache without repeating calls."
    )


# --------------------------------------------------------------------------- linking


def link_artists(
    artists: pd.DataFrame,
    linker: EntityLinker,
    cache: DiskCache | NullCache,
    *,
    allow_partial: bool = False,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Link the biography of every artist (cache first).

    The cache entry of an artist stores a hash of the text it was linked from;
    a changed biography is linked again.

    Returns
    -------
    mentions
        One row per mention: ``artist_id, start, end, surface, entity,
        synset_id, score, source``, artists in input order.
    log
        Counts: artists, from cache, linked now, failed (with ids), pending.

    Raises
    ------
    EnrichmentIncompleteError
        The linker became unusable and ``allow_partial`` is false.
    """
    rows: list[dict[str, Any]] = []
    counts: Counter = Counter()
    failed: dict[str, str] = {}
    stopped: RemoteUnavailableError | None = None
    total = len(artists)
    ids = artists["artist_id"].astype(str).tolist()
    texts = artists["biography"].fillna("").astype(str).tolist()
    # the pieces of a long text are separate requests: each answer is kept as it arrives
    linker.request_cache = cache.child("requests")
    for artist_id, text in _progress(
        zip(ids, texts, strict=True), total, f"Linking ({linker.name})", progress
    ):
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()
        cached = cache.get(artist_id)
        if isinstance(cached, dict) and cached.get("text_sha1") == digest:
            mentions = [Mention.from_dict(m) for m in cached.get("mentions", [])]
            counts["from_cache"] += 1
        elif stopped is not None:
            counts["pending"] += 1
            continue
        else:
            try:
                mentions = linker.link(text)
            except RemoteRequestError as exc:
                failed[artist_id] = str(exc)
                logger.warning("Linking artist %s failed: %s", quoted(artist_id), plain(exc))
                continue
            except RemoteUnavailableError as exc:
                stopped = exc
                counts["pending"] += 1
                logger.error("%s is unusable: %s", linker.name, plain(exc))
                continue
            cache.put(artist_id, {"text_sha1": digest, "mentions": [m.to_dict() for m in mentions]})
            counts["linked_now"] += 1
        rows.extend({"artist_id": artist_id, **m.to_dict()} for m in mentions)

    done = counts["from_cache"] + counts["linked_now"]
    log = {
        "linker": linker.fingerprint(),
        "n_artists": total,
        "from_cache": counts["from_cache"],
        "linked_now": counts["linked_now"],
        "failed": len(failed),
        "failed_artists": failed,
        "pending": counts["pending"],
        "complete": stopped is None and not failed,
        "linker_stats": dict(linker.stats),
    }
    logger.info(
        "Linked %d artists with %s: %d from cache, %d now, %d failed, %d pending; %d mentions",
        total,
        linker.name,
        counts["from_cache"],
        counts["linked_now"],
        len(failed),
        counts["pending"],
        len(rows),
    )
    if stopped is not None:
        message = _stop_message(
            f"Entity linking ({linker.name})", stopped, done, total, counts["pending"], cache
        )
        log["stopped"] = message
        if not allow_partial:  # Kedro logs the error through its rich handler
            raise EnrichmentIncompleteError(plain(message))
        logger.warning(
            "%s Going on with %d artists un-enriched (allow_partial).",
            plain(message),
            counts["pending"],
        )
    mentions_df = pd.DataFrame(rows, columns=MENTION_COLUMNS)
    mentions_df = mentions_df.astype(
        {
            "artist_id": "str",
            "start": "int64",
            "end": "int64",
            "surface": "str",
            "entity": "str",
            "score": "float64",
            "source": "str",
        }
    )
    mentions_df["synset_id"] = mentions_df["synset_id"].astype("object")
    return mentions_df, log


# --------------------------------------------------------------------------- lookups


def lookup_entities(
    entities: Iterable[str],
    knowledge_base: KnowledgeBase,
    cache: DiskCache | NullCache,
    *,
    classes: Sequence[str],
    properties: Sequence[str],
    categories: bool = True,
    batch_size: int = 50,
    allow_partial: bool = False,
    progress: bool = True,
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Fetch types and properties of entities, batching ``batch_size`` per query.

    Invalid IRIs are rejected (counted, never queried). The raw rows of each
    entity are cached under its IRI, an entity without any row too (so that it
    is not asked again).

    Returns
    -------
    rows
        ``{"entity", "predicate", "object", "object_kind"}`` dicts (raw: every
        type among ``classes`` and every value of ``properties``).
    log
        Counts: entities, rejected, from cache, looked up now, pending, queries.
    """
    unique = list(dict.fromkeys(entities))
    valid, rejected = [], []
    for entity in unique:
        try:
            valid.append(validate_iri(entity))
        except InvalidIRIError as exc:
            rejected.append(entity)
            logger.warning("Not looking up entity: %s", plain(exc))

    found: dict[str, list[list[str]]] = {}
    todo = []
    for entity in valid:
        cached = cache.get(entity)
        if isinstance(cached, dict) and isinstance(cached.get("rows"), list):
            found[entity] = cached["rows"]
        else:
            todo.append(entity)
    n_cached = len(found)

    stopped: RemoteUnavailableError | None = None
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    for batch in _progress(batches, len(batches), f"Looking up ({knowledge_base.name})", progress):
        query = entity_facts_query(batch, classes, properties, categories)
        try:
            result = knowledge_base.select(query)
        except RemoteUnavailableError as exc:
            stopped = exc
            logger.error("%s is unusable: %s", knowledge_base.name, plain(exc))
            break
        per_entity: dict[str, list[list[str]]] = {entity: [] for entity in batch}
        for row in result:
            entity, predicate, obj = row.get("entity"), row.get("p"), row.get("o")
            if entity is None or predicate is None or obj is None or entity.value not in per_entity:
                continue
            per_entity[entity.value].append([predicate.value, obj.value, obj.kind])
        for entity, entity_rows in per_entity.items():
            entity_rows.sort()  # one order whatever the store's query plan returns
            cache.put(entity, {"rows": entity_rows})
            found[entity] = entity_rows

    pending = len(valid) - len(found)
    log = {
        "knowledge_base": knowledge_base.fingerprint(),
        "n_entities": len(unique),
        "rejected_iris": len(rejected),
        "from_cache": n_cached,
        "looked_up_now": len(found) - n_cached,
        "pending": pending,
        "complete": stopped is None,
        "kb_stats": dict(knowledge_base.stats),
    }
    logger.info(
        "Looked up %d entities in %s: %d from cache, %d now, %d rejected IRIs, %d pending",
        len(unique),
        knowledge_base.name,
        n_cached,
        len(found) - n_cached,
        len(rejected),
        pending,
    )
    if stopped is not None:
        message = _stop_message(
            f"Knowledge-base lookups ({knowledge_base.name})",
            stopped,
            len(found),
            len(valid),
            pending,
            cache,
        )
        log["stopped"] = message
        if not allow_partial:
            raise EnrichmentIncompleteError(plain(message))
        logger.warning("%s Going on without them (allow_partial).", plain(message))
    rows = [
        {"entity": entity, "predicate": p, "object": o, "object_kind": kind}
        for entity in valid
        if entity in found
        for p, o, kind in found[entity]
    ]
    return rows, log


def select_facts(
    raw_rows: Iterable[dict[str, str]],
    classes: Sequence[str],
    properties: dict[str, Sequence[str]],
    categories: bool = True,
) -> pd.DataFrame:
    """Keep, per entity, the facts its classes call for (the paper's filter).

    An entity is kept when one of its types is in ``classes``; it keeps the
    values of the properties listed for (any of) its classes and, if
    ``categories``, its ``dct:subject`` categories.

    Returns
    -------
    DataFrame
        ``entity, kind (type|property|category), predicate, object, object_kind``.
    """
    class_iris = {ontology_iri(c): c for c in classes}
    wanted = {ontology_iri(c): {ontology_iri(p) for p in properties.get(c, ())} for c in classes}
    order = {
        p: i
        for i, p in enumerate(
            dict.fromkeys(ontology_iri(p) for c in classes for p in properties.get(c, ()))
        )
    }
    by_entity: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in raw_rows:
        by_entity[row["entity"]].append(row)
    out = []
    for entity, rows in by_entity.items():
        types = [
            r["object"] for r in rows if r["predicate"] == RDF_TYPE and r["object"] in class_iris
        ]
        if not types:
            continue
        keep = set().union(*(wanted[t] for t in types))
        for t in sorted(set(types), key=list(class_iris).index):
            out.append(
                {
                    "entity": entity,
                    "kind": "type",
                    "predicate": RDF_TYPE,
                    "object": t,
                    "object_kind": "uri",
                }
            )
        facts, cats = set(), set()
        for r in rows:
            if r["predicate"] == DCT_SUBJECT and categories and r["object_kind"] == "uri":
                cats.add(r["object"])
            elif r["predicate"] in keep and r["object_kind"] in ("uri", "literal"):
                facts.add((r["predicate"], r["object"], r["object_kind"]))
        # deterministic order whatever the store returned: properties as declared, then objects
        for p, o, kind in sorted(facts, key=lambda f: (order[f[0]], f[1], f[2])):
            out.append(
                {
                    "entity": entity,
                    "kind": "property",
                    "predicate": p,
                    "object": o,
                    "object_kind": kind,
                }
            )
        for o in sorted(cats):
            out.append(
                {
                    "entity": entity,
                    "kind": "category",
                    "predicate": DCT_SUBJECT,
                    "object": o,
                    "object_kind": "uri",
                }
            )
    return pd.DataFrame(out, columns=FACT_COLUMNS).astype("str")


# --------------------------------------------------------------------------- terms


def entity_terms(
    entity: str, facts: pd.DataFrame | Iterable[dict[str, str]], object_terms: bool = False
) -> list[str]:
    """The terms one entity contributes: itself, its facts, its categories.

    ``object_terms`` also appends each property's object on its own
    (``dbr_Jazz`` besides ``dbo_genre__dbr_Jazz``).
    """
    records = facts.to_dict("records") if isinstance(facts, pd.DataFrame) else list(facts)
    terms = [iri_term(entity)]
    for r in records:
        if r["kind"] == "property":
            terms.append(fact_term(r["predicate"], r["object"], r["object_kind"]))
            if object_terms and r["object_kind"] == "uri":
                terms.append(iri_term(r["object"]))
    terms.extend(iri_term(r["object"]) for r in records if r["kind"] == "category")
    return terms


def enrich_texts(
    artists: pd.DataFrame,
    mentions: pd.DataFrame,
    facts: pd.DataFrame,
    object_terms: bool = False,
) -> pd.DataFrame:
    """Append the terms of every kept entity (in order of first mention) to each biography.

    Returns
    -------
    DataFrame
        ``artist_id, biography_enriched, n_entities, n_appended_terms`` in the
        order of ``artists``.
    """
    kept = set(facts.loc[facts["kind"] == "type", "entity"]) if len(facts) else set()
    facts_by_entity = (
        {e: group for e, group in facts.groupby("entity", sort=False)} if len(facts) else {}
    )
    term_cache: dict[str, list[str]] = {}
    by_artist: dict[str, list[str]] = defaultdict(list)
    for artist_id, entity in zip(mentions["artist_id"], mentions["entity"], strict=True):
        if entity in kept and entity not in by_artist[artist_id]:
            by_artist[artist_id].append(entity)
    out = []
    for artist_id, biography in zip(
        artists["artist_id"].astype(str), artists["biography"].fillna("").astype(str), strict=True
    ):
        terms: list[str] = []
        for entity in by_artist.get(artist_id, []):
            if entity not in term_cache:
                term_cache[entity] = entity_terms(entity, facts_by_entity[entity], object_terms)
            terms.extend(term_cache[entity])
        text = " ".join(part for part in (biography, " ".join(terms)) if part)
        out.append(
            {
                "artist_id": artist_id,
                "biography_enriched": text,
                "n_entities": len(by_artist.get(artist_id, [])),
                "n_appended_terms": len(terms),
            }
        )
    return pd.DataFrame(
        out, columns=["artist_id", "biography_enriched", "n_entities", "n_appended_terms"]
    ).astype(
        {
            "artist_id": "str",
            "biography_enriched": "str",
            "n_entities": "int64",
            "n_appended_terms": "int64",
        }
    )


# --------------------------------------------------------------------------- report


def _summary(values: pd.Series) -> dict[str, float]:
    if values.empty:
        return {"mean": 0.0, "median": 0.0, "max": 0.0}
    return {
        "mean": round(float(values.mean()), 4),
        "median": float(values.median()),
        "max": float(values.max()),
    }


def enrichment_report(
    artists: pd.DataFrame,
    enriched: pd.DataFrame,
    mentions: pd.DataFrame,
    facts: pd.DataFrame,
    linking_log: dict[str, Any],
    lookup_log: dict[str, Any],
    classes: Sequence[str],
    max_listed: int = 1000,
) -> dict[str, Any]:
    """What the enrichment found: entities per class, artists with none, facts per entity."""
    class_of = {ontology_iri(c): c for c in classes}
    types = facts[facts["kind"] == "type"] if len(facts) else facts
    kept = set(types["entity"]) if len(types) else set()
    linked_entities = set(mentions["entity"]) if len(mentions) else set()
    entities_per_class = {c: 0 for c in classes}
    mentions_per_class = {c: 0 for c in classes}
    type_pairs = list(zip(types["entity"], types["object"], strict=True)) if len(types) else []
    classes_by_entity: dict[str, list[str]] = defaultdict(list)
    for entity, type_iri in type_pairs:
        classes_by_entity[entity].append(class_of[type_iri])
        entities_per_class[class_of[type_iri]] += 1
    if len(mentions):
        for entity, count in mentions["entity"].value_counts().items():
            for cls in classes_by_entity.get(entity, []):
                mentions_per_class[cls] += int(count)

    props = facts[facts["kind"] == "property"] if len(facts) else facts
    cats = facts[facts["kind"] == "category"] if len(facts) else facts
    n_props = props.groupby("entity").size() if len(props) else pd.Series(dtype="int64")
    n_cats = cats.groupby("entity").size() if len(cats) else pd.Series(dtype="int64")
    per_entity = {
        iri_term(e): {
            "classes": classes_by_entity[e],
            "properties": int(n_props.get(e, 0)),
            "categories": int(n_cats.get(e, 0)),
        }
        for e in sorted(kept)
    }
    by_property = (
        {local_name(p): int(n) for p, n in props["predicate"].value_counts().items()}
        if len(props)
        else {}
    )
    properties_by_class = {}
    for cls in classes:
        members = [e for e in kept if cls in classes_by_entity[e]]
        properties_by_class[cls] = _summary(
            pd.Series([n_props.get(e, 0) for e in members], dtype="float64")
        )

    with_entities = enriched["n_entities"] > 0
    without = enriched.loc[~with_entities, "artist_id"].tolist()
    split_share = {}
    if "split" in artists.columns:
        for split, mask in artists.groupby("split").groups.items():
            split_share[str(split)] = round(float(with_entities.loc[mask].mean()), 4)
    return {
        "complete": bool(linking_log.get("complete", True) and lookup_log.get("complete", True)),
        "n_artists": int(len(enriched)),
        "n_artists_with_entities": int(with_entities.sum()),
        "share_artists_with_entities": round(float(with_entities.mean()), 4)
        if len(enriched)
        else 0.0,
        "share_artists_with_entities_by_split": split_share,
        "n_artists_without_entities": len(without),
        "artists_without_entities": without[:max_listed],
        "artists_without_entities_truncated": len(without) > max_listed,
        "entities_per_artist": _summary(enriched["n_entities"].astype("float64")),
        "appended_terms_per_artist": _summary(enriched["n_appended_terms"].astype("float64")),
        "n_mentions": int(len(mentions)),
        "n_linked_entities": len(linked_entities),
        "n_kept_entities": len(kept),
        "n_entities_outside_classes": len(linked_entities - kept),
        "entities_per_class": entities_per_class,
        "mentions_per_class": mentions_per_class,
        "properties_per_entity": _summary(
            pd.Series([n_props.get(e, 0) for e in kept], dtype="float64")
        ),
        "categories_per_entity": _summary(
            pd.Series([n_cats.get(e, 0) for e in kept], dtype="float64")
        ),
        "properties_per_entity_by_class": properties_by_class,
        "facts_by_property": by_property,
        "entities": dict(list(per_entity.items())[:max_listed]),
        "linking": linking_log,
        "lookups": lookup_log,
    }

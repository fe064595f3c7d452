"""Nodes of the semantic_enrichment pipeline (Oramas et al. 2017, section 3.1).

biographies -> entity mentions (offline labels or Babelfy) -> facts of the
mentioned entities (embedded store or SPARQL endpoint) -> biographies with the
facts appended as single-token terms, and a report. The work is done by
:mod:`coldstart.enrichment`; these functions read the parameters, open and
close the backends, and log.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from coldstart.enrichment import (
    EnrichmentConfig,
    Secret,
    enrich_texts,
    enrichment_report,
    link_artists,
    lookup_entities,
    make_cache,
    make_linker,
    open_knowledge_base,
    select_facts,
)
from coldstart.logsafe import plain

logger = logging.getLogger(__name__)


def link_entities(
    artists: pd.DataFrame,
    raw_knowledge_base: Path,
    babelfy_credentials: Secret | None,
    semantic_enrichment: dict[str, Any],
    enrichment_cache: Path | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Find the knowledge-base entities each biography mentions.

    Parameters
    ----------
    artists
        ``artist_id``, ``biography`` (and the other ``artists`` columns).
    raw_knowledge_base
        Path of ``knowledge_base.ttl`` (may not exist when a SPARQL endpoint is
        configured).
    babelfy_credentials
        The Babelfy key (``SecretDataset``); unused by the offline linker.
    semantic_enrichment
        The pipeline's parameters (merged into the defaults key by key).
    enrichment_cache
        The cache folder of remote answers (the catalog's, under ``data_root``),
        unless ``cache.dir`` is set.

    Returns
    -------
    mentions, linking_log
        One row per mention (``artist_id, start, end, surface, entity,
        synset_id, score, source``) and counts for the report.
    """
    config = EnrichmentConfig.from_params(semantic_enrichment)
    if config.linker == "offline":  # the offline linker matches the labels of the KB's entities
        with open_knowledge_base(config, raw_knowledge_base) as kb:
            linker = make_linker(config, kb, babelfy_credentials)
    else:
        linker = make_linker(config, None, babelfy_credentials)
    try:
        cache = make_cache(config, "linking", linker, root=enrichment_cache)
        logger.info(
            "Linking %d biographies with %s (cache: %s)",
            len(artists),
            linker.name,
            plain(repr(cache)),
        )
        return link_artists(
            artists,
            linker,
            cache,
            allow_partial=config.allow_partial,
            progress=config.progress_bar,
        )
    finally:
        linker.close()


def lookup_entity_facts(
    mentions: pd.DataFrame,
    raw_knowledge_base: Path,
    semantic_enrichment: dict[str, Any],
    enrichment_cache: Path | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fetch classes, the configured properties and categories of every linked entity.

    Returns
    -------
    facts, lookup_log
        ``entity, kind (type|property|category), predicate, object,
        object_kind`` for the entities whose class is kept, and counts.
    """
    config = EnrichmentConfig.from_params(semantic_enrichment)
    query_config = {
        "classes": list(config.classes),
        "properties": config.all_properties(),
        "categories": config.categories,
    }
    with open_knowledge_base(config, raw_knowledge_base) as kb:
        cache = make_cache(config, "knowledge_base", kb, query_config, root=enrichment_cache)
        rows, log = lookup_entities(
            mentions["entity"].tolist(),
            kb,
            cache,
            classes=config.classes,
            properties=config.all_properties(),
            categories=config.categories,
            batch_size=config.batch_size,
            allow_partial=config.allow_partial,
            progress=config.progress_bar,
        )
    facts = select_facts(rows, config.classes, config.properties, config.categories)
    logger.info(
        "Kept %d of %d linked entities (classes %s); %d facts",
        facts.loc[facts["kind"] == "type", "entity"].nunique() if len(facts) else 0,
        log["n_entities"],
        ", ".join(config.classes),
        int((facts["kind"] != "type").sum()),
    )
    return facts, log


def enrich_biographies(
    artists: pd.DataFrame,
    mentions: pd.DataFrame,
    facts: pd.DataFrame,
    semantic_enrichment: dict[str, Any],
) -> pd.DataFrame:
    """Append the knowledge-base terms of each biography's entities to it.

    Returns
    -------
    DataFrame
        ``artist_id, biography_enriched, n_entities, n_appended_terms``, rows in
        the order of ``artists``.
    """
    config = EnrichmentConfig.from_params(semantic_enrichment)
    enriched = enrich_texts(artists, mentions, facts, object_terms=config.object_terms)
    logger.info(
        "Enriched %d biographies: %.1f%% with at least one entity, %.2f terms appended on average",
        len(enriched),
        100.0 * float((enriched["n_entities"] > 0).mean()) if len(enriched) else 0.0,
        float(enriched["n_appended_terms"].mean()) if len(enriched) else 0.0,
    )
    return enriched


def report_enrichment(
    artists: pd.DataFrame,
    artists_enriched: pd.DataFrame,
    mentions: pd.DataFrame,
    facts: pd.DataFrame,
    linking_log: dict[str, Any],
    lookup_log: dict[str, Any],
    semantic_enrichment: dict[str, Any],
) -> dict[str, Any]:
    """The enrichment report: entities per class, artists with none, facts per entity."""
    config = EnrichmentConfig.from_params(semantic_enrichment)
    return enrichment_report(
        artists, artists_enriched, mentions, facts, linking_log, lookup_log, config.classes
    )

"""semantic_enrichment pipeline: biographies -> entities -> KB facts -> enriched biographies."""

from kedro.pipeline import Node, Pipeline

from .nodes import enrich_biographies, link_entities, lookup_entity_facts, report_enrichment


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                link_entities,
                [
                    "artists",
                    "raw_knowledge_base",
                    "babelfy_credentials",
                    "params:semantic_enrichment",
                    "enrichment_cache",
                ],
                ["enrichment_mentions", "enrichment_linking_log"],
                name="link_entities",
            ),
            Node(
                lookup_entity_facts,
                [
                    "enrichment_mentions",
                    "raw_knowledge_base",
                    "params:semantic_enrichment",
                    "enrichment_cache",
                ],
                ["enrichment_entity_facts", "enrichment_lookup_log"],
                name="lookup_entity_facts",
            ),
            Node(
                enrich_biographies,
                [
                    "artists",
                    "enrichment_mentions",
                    "enrichment_entity_facts",
                    "params:semantic_enrichment",
                ],
                "artists_enriched",
                name="enrich_biographies",
            ),
            Node(
                report_enrichment,
                [
                    "artists",
                    "artists_enriched",
                    "enrichment_mentions",
                    "enrichment_entity_facts",
                    "enrichment_linking_log",
                    "enrichment_lookup_log",
                    "params:semantic_enrichment",
                ],
                "enrichment_report",
                name="report_enrichment",
            ),
        ]
    )

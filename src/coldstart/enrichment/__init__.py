"""Semantic enrichment of artist biographies (Oramas et al. 2017, section 3.1).

Entity linking (:mod:`.linking`: offline label matching or Babelfy), knowledge
base lookups (:mod:`.knowledge_base`: embedded Oxigraph store or a SPARQL
endpoint, same SPARQL text), IRI validation (:mod:`.iri`), term formatting
(:mod:`.terms`), an atomic on-disk cache (:mod:`.cache`) and the enrichment
itself (:mod:`.enrich`). Heavy libraries (pyoxigraph, SPARQLWrapper, requests)
are imported inside the functions that use them.
"""

from .cache import DiskCache, NullCache
from .config import EnrichmentConfig, make_cache, make_linker, open_knowledge_base
from .credentials import Secret, SecretDataset
from .enrich import (
    enrich_texts,
    enrichment_report,
    entity_terms,
    link_artists,
    lookup_entities,
    select_facts,
)
from .iri import InvalidIRIError, is_valid_iri, sparql_iri, validate_iri
from .knowledge_base import (
    EmbeddedKnowledgeBase,
    KnowledgeBase,
    SparqlEndpointKnowledgeBase,
    Term,
    entity_facts_query,
    labels_query,
)
from .linking import BabelfyLinker, EntityLinker, LabelLinker, Mention
from .remote import (
    EnrichmentIncompleteError,
    QuotaExceededError,
    RemoteRequestError,
    RemoteUnavailableError,
)
from .terms import fact_term, iri_term, literal_term

__all__ = [
    "BabelfyLinker",
    "DiskCache",
    "EmbeddedKnowledgeBase",
    "EnrichmentConfig",
    "EnrichmentIncompleteError",
    "EntityLinker",
    "InvalidIRIError",
    "KnowledgeBase",
    "LabelLinker",
    "Mention",
    "NullCache",
    "QuotaExceededError",
    "RemoteRequestError",
    "RemoteUnavailableError",
    "Secret",
    "SecretDataset",
    "SparqlEndpointKnowledgeBase",
    "Term",
    "enrich_texts",
    "enrichment_report",
    "entity_facts_query",
    "entity_terms",
    "fact_term",
    "iri_term",
    "is_valid_iri",
    "labels_query",
    "link_artists",
    "literal_term",
    "lookup_entities",
    "make_cache",
    "make_linker",
    "open_knowledge_base",
    "select_facts",
    "sparql_iri",
    "validate_iri",
]

"""The ``semantic_enrichment`` parameters, checked, and the factories they drive."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import DiskCache, NullCache, config_digest
from .credentials import Secret
from .knowledge_base import (
    EmbeddedKnowledgeBase,
    KnowledgeBase,
    SparqlEndpointKnowledgeBase,
    ontology_iri,
)
from .linking import BabelfyLinker, EntityLinker, LabelLinker

PAPER_CLASSES = (
    "MusicalArtist",
    "Band",
    "MusicGenre",
    "MusicalWork",
    "RecordLabel",
    "Instrument",
    "Engineer",
    "Place",
)
_ARTIST_PROPERTIES = (
    "homeTown",
    "birthPlace",
    "genre",
    "instrument",
    "recordLabel",
    "associatedBand",
    "associatedMusicalArtist",
    "bandMember",
    "formerBandMember",
)
PAPER_PROPERTIES: dict[str, tuple[str, ...]] = {
    "MusicalArtist": _ARTIST_PROPERTIES,
    "Band": _ARTIST_PROPERTIES,
    "MusicalWork": ("writer", "artist", "genre", "recordLabel", "producer", "recordedIn"),
    "MusicGenre": ("stylisticOrigin", "instrument"),
    "RecordLabel": ("location", "genre"),
}

#: The ``semantic_enrichment`` parameters of ``conf/base`` (a test keeps the two equal), but
#: ``cache.dir``: the cache folder comes from the catalog (``enrichment_cache``, under
#: ``data_root``). Given parameters are merged into these key by key, so a one-key override
#: (``--params=semantic_enrichment.allow_partial=true``, a one-key
#: ``conf/local/parameters_semantic_enrichment.yml``, which Kedro lets replace the whole
#: block) changes that key only.
DEFAULTS: dict[str, Any] = {
    "linker": {
        "type": "offline",
        "offline": {"min_label_chars": 3, "label_lang": "en"},
        "babelfy": {
            "endpoint": "https://babelfy.io/v1/disambiguate",
            "lang": "EN",
            "method": "POST",
            "timeout_s": 30,
            "max_retries": 4,
            "backoff_s": 2.0,
            "max_backoff_s": 60.0,
            "max_chars": 3000,
            "min_score": 0.0,
            "keep_overlapping": False,
            "params": {},
        },
    },
    "knowledge_base": {
        "type": "embedded",
        "batch_size": 50,
        "sparql": {
            "endpoint": "https://dbpedia.org/sparql",
            "default_graph": "http://dbpedia.org",
            "method": "POST",
            "timeout_s": 60,
            "max_retries": 4,
            "backoff_s": 2.0,
            "max_backoff_s": 60.0,
        },
    },
    "classes": list(PAPER_CLASSES),
    "properties": {c: list(ps) for c, ps in PAPER_PROPERTIES.items()},
    "categories": True,
    "object_terms": False,
    "cache": {"offline": False},
    "allow_partial": False,
    "progress_bar": True,
}

LINKERS = ("offline", "babelfy")
KNOWLEDGE_BASES = ("embedded", "sparql")


class EnrichmentConfigError(ValueError):
    """The ``semantic_enrichment`` parameters are inconsistent."""


def merged_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` merged into :data:`DEFAULTS`: mappings key by key, other values replaced.

    ``properties`` is the exception: when ``params`` names ``classes`` but no
    ``properties``, the default properties of the kept classes are used.
    """

    def merge(base: Any, override: Any) -> Any:
        if isinstance(base, Mapping) and isinstance(override, Mapping):
            out = dict(base)
            for key, value in override.items():
                out[key] = merge(base.get(key), value) if key in base else value
            return out
        return override

    params = dict(params or {})
    merged = merge(DEFAULTS, params)
    if "properties" not in params:
        classes = set(merged.get("classes") or ())
        merged["properties"] = {c: ps for c, ps in DEFAULTS["properties"].items() if c in classes}
    return merged


@dataclass(frozen=True)
class EnrichmentConfig:
    """Checked ``semantic_enrichment`` parameters (see ``parameters_semantic_enrichment.yml``)."""

    linker: str = "offline"
    offline: dict[str, Any] = field(default_factory=dict)
    babelfy: dict[str, Any] = field(default_factory=dict)
    knowledge_base: str = "embedded"
    sparql: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 50
    classes: tuple[str, ...] = PAPER_CLASSES
    properties: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(PAPER_PROPERTIES))
    categories: bool = True
    object_terms: bool = False
    cache_dir: Path | None = None  # None: the catalog's folder (see :func:`make_cache`)
    cache_offline: bool = False
    allow_partial: bool = False
    progress_bar: bool = True

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> EnrichmentConfig:
        """Build from the ``semantic_enrichment`` parameters, merged into :data:`DEFAULTS`."""
        params = merged_params(params)
        linker = dict(params.get("linker") or {})
        kb = dict(params.get("knowledge_base") or {})
        cache = dict(params.get("cache") or {})
        linker_type = str(linker.get("type", "offline"))
        kb_type = str(kb.get("type", "embedded"))
        if linker_type not in LINKERS:
            raise EnrichmentConfigError(
                f"linker.type must be one of {LINKERS}, got {linker_type!r}"
            )
        if kb_type not in KNOWLEDGE_BASES:
            raise EnrichmentConfigError(
                f"knowledge_base.type must be one of {KNOWLEDGE_BASES}, got {kb_type!r}"
            )
        babelfy = dict(linker.get("babelfy") or {})
        if "key" in babelfy or "key" in dict(babelfy.get("params") or {}):
            from .credentials import credentials_hint

            raise EnrichmentConfigError(
                f"Never put the Babelfy key into parameters (MLflow logs them): {credentials_hint()}"
            )
        classes = tuple(str(c) for c in params.get("classes", PAPER_CLASSES))
        if not classes:
            raise EnrichmentConfigError("classes must name at least one DBpedia class")
        if "properties" in params:
            raw_properties = params["properties"] or {}
        else:  # the paper's properties, for the classes that are kept
            raw_properties = {c: ps for c, ps in PAPER_PROPERTIES.items() if c in classes}
        properties = {str(c): tuple(str(p) for p in (ps or ())) for c, ps in raw_properties.items()}
        unknown = sorted(set(properties) - set(classes))
        if unknown:
            raise EnrichmentConfigError(
                f"properties are given for classes not in `classes`: {unknown}"
            )
        for name in (*classes, *(p for ps in properties.values() for p in ps)):
            try:
                ontology_iri(name)
            except ValueError as exc:
                raise EnrichmentConfigError(f"Bad class or property name {name!r}: {exc}") from None
        return cls(
            linker=linker_type,
            offline=dict(linker.get("offline") or {}),
            babelfy=babelfy,
            knowledge_base=kb_type,
            sparql=dict(kb.get("sparql") or {}),
            batch_size=max(1, int(kb.get("batch_size", 50))),
            classes=classes,
            properties=properties,
            categories=bool(params.get("categories", True)),
            object_terms=bool(params.get("object_terms", False)),
            cache_dir=Path(str(cache["dir"])) if cache.get("dir") else None,
            cache_offline=bool(cache.get("offline", False)),
            allow_partial=bool(params.get("allow_partial", False)),
            progress_bar=bool(params.get("progress_bar", True)),
        )

    def all_properties(self) -> list[str]:
        """Every property fetched (union over classes), in declaration order."""
        return list(dict.fromkeys(p for ps in self.properties.values() for p in ps))


def open_knowledge_base(config: EnrichmentConfig, ttl_path: Path | str | None) -> KnowledgeBase:
    """The configured knowledge base: the embedded store or a SPARQL endpoint.

    Raises
    ------
    FileNotFoundError
        The embedded store is configured and ``ttl_path`` does not exist.
    """
    if config.knowledge_base == "sparql":
        try:
            return SparqlEndpointKnowledgeBase(**config.sparql)
        except TypeError as exc:  # an unknown option under knowledge_base.sparql
            raise EnrichmentConfigError(
                f"semantic_enrichment.knowledge_base.sparql: {exc}"
            ) from None
    path = Path(ttl_path) if ttl_path is not None else None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"semantic_enrichment: the embedded knowledge base is configured but '{path}' does "
            "not exist. Put a DBpedia-style `knowledge_base.ttl` into the dataset folder (the "
            "synthetic world writes one), or query a SPARQL endpoint instead: set "
            "`semantic_enrichment.knowledge_base.type: sparql` (and `sparql.endpoint`)."
        )
    return EmbeddedKnowledgeBase(path)


def make_linker(
    config: EnrichmentConfig, knowledge_base: KnowledgeBase | None, babelfy_key: Secret | None
) -> EntityLinker:
    """The configured entity linker (the offline one reads its labels from the KB)."""
    if config.linker == "babelfy":
        try:
            return BabelfyLinker(babelfy_key, **config.babelfy)
        except TypeError as exc:  # an unknown option under linker.babelfy
            raise EnrichmentConfigError(f"semantic_enrichment.linker.babelfy: {exc}") from None
    if knowledge_base is None:
        raise ValueError("The offline linker needs the knowledge base to read labels from")
    options = dict(config.offline)
    lang = str(options.pop("label_lang", "en"))
    page_size = int(options.pop("label_page_size", 10000 if knowledge_base.remote else 0))
    labels = knowledge_base.labels(config.classes, lang=lang, page_size=page_size)
    try:
        return LabelLinker(labels, **options)
    except TypeError as exc:
        raise EnrichmentConfigError(f"semantic_enrichment.linker.offline: {exc}") from None


def make_cache(
    config: EnrichmentConfig,
    kind: str,
    backend: EntityLinker | KnowledgeBase,
    extra: dict[str, Any] | None = None,
    root: Path | str | None = None,
) -> DiskCache | NullCache:
    """The on-disk cache of one backend (remote ones always; local ones if asked).

    It lives in ``cache.dir`` when the parameters set it, else in ``root`` (the
    catalog's ``enrichment_cache``, under ``data_root``); never in a folder
    relative to the current directory.
    """
    if not (backend.remote or config.cache_offline):
        return NullCache()
    directory = config.cache_dir or (Path(root) if root is not None else None)
    if directory is None:
        raise EnrichmentConfigError(
            f"{backend.name} answers are cached on disk, but no folder is given: set "
            "`semantic_enrichment.cache.dir`, or run the pipeline (the catalog's "
            "`enrichment_cache` entry, under data_root)"
        )
    description = {"kind": kind, **backend.fingerprint(), **(extra or {})}
    namespace = f"{kind}/{backend.name}-{config_digest(description)}"
    return DiskCache(directory, namespace, description)

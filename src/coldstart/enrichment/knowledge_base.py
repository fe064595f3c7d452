"""Knowledge base access: one interface, two implementations, the same SPARQL text.

* :class:`EmbeddedKnowledgeBase` (the default): an in-memory Oxigraph store
  (``pyoxigraph``) loaded with the dataset's ``knowledge_base.ttl``.
* :class:`SparqlEndpointKnowledgeBase`: any SPARQL 1.1 endpoint (DBpedia's by
  default) through ``SPARQLWrapper``, with timeouts and retries.

Both answer :meth:`KnowledgeBase.select` with rows of :class:`Term`. The
queries are built here by :func:`labels_query` and :func:`entity_facts_query`;
every IRI that goes into them passes :func:`~coldstart.enrichment.iri.validate_iri`
first (entity IRIs come from outside), so no value can end the ``<...>`` token
it is written in.
"""

from __future__ import annotations

import logging
import re
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coldstart.logsafe import plain

from .iri import sparql_iri, validate_iri
from .remote import RemoteUnavailableError, TransientError, call_with_retries
from .terms import DBO, DCT_SUBJECT, RDF_TYPE, RDFS_LABEL

logger = logging.getLogger(__name__)

DEFAULT_SPARQL_ENDPOINT = "https://dbpedia.org/sparql"
_LOCAL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_LANG_TAG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class Term:
    """An RDF term in a result row: ``kind`` is ``uri``, ``literal`` or ``bnode``."""

    kind: str
    value: str
    lang: str | None = None
    datatype: str | None = None


Row = dict[str, Term]


# --------------------------------------------------------------------------- queries


def ontology_iri(name: str) -> str:
    """A class or property name (``MusicalArtist``, ``genre``) or a full IRI, validated."""
    name = str(name)
    if _LOCAL_NAME.match(name):
        return DBO + name
    return validate_iri(name)


def labels_query(
    classes: Sequence[str], lang: str = "en", limit: int | None = None, offset: int = 0
) -> str:
    """Labels of every entity of the given classes (for the offline linker).

    Labels in language ``lang`` and labels without a language are returned.
    """
    if not _LANG_TAG.match(lang):
        raise ValueError(f"Not a language tag: {lang!r}")
    values = " ".join(sparql_iri(ontology_iri(c)) for c in classes)
    query = (
        "SELECT DISTINCT ?entity ?label WHERE {\n"
        f"  VALUES ?class {{ {values} }}\n"
        f"  ?entity {sparql_iri(RDF_TYPE)} ?class ;\n"
        f"          {sparql_iri(RDFS_LABEL)} ?label .\n"
        f'  FILTER(isIRI(?entity) && (lang(?label) = "" || langMatches(lang(?label), "{lang}")))\n'
        "}"
    )
    if limit:
        query += f"\nORDER BY ?entity ?label\nLIMIT {int(limit)} OFFSET {int(offset)}"
    return query


def entity_facts_query(
    entities: Iterable[str],
    classes: Sequence[str],
    properties: Iterable[str],
    categories: bool = True,
) -> str:
    """Types (among ``classes``), values of ``properties`` and, if ``categories``,
    the ``dct:subject`` categories of ``entities``.

    Returns rows ``?entity ?p ?o``, in no particular order. Every entity IRI is
    validated here, so a caller cannot pass a value that changes the query.

    The properties are a ``FILTER`` on ``?p``, not a second ``VALUES`` block: with
    two ``VALUES`` blocks Oxigraph joins them against a scan of every triple (a
    50-entity batch took 0.7-1.4 s on the msd_a world's 545,508 triples, so the
    look-ups grew as entities x knowledge base), while a bound ``?entity`` alone
    walks the subject index (10 ms, the same rows).
    """
    entity_values = " ".join(sparql_iri(e) for e in entities)
    if not entity_values:
        raise ValueError("entity_facts_query needs at least one entity")
    property_iris = [RDF_TYPE] + [ontology_iri(p) for p in properties]
    if categories:
        property_iris.append(DCT_SUBJECT)
    property_list = ", ".join(dict.fromkeys(sparql_iri(p) for p in property_iris))
    class_list = ", ".join(sparql_iri(ontology_iri(c)) for c in classes)
    return (
        "SELECT DISTINCT ?entity ?p ?o WHERE {\n"
        f"  VALUES ?entity {{ {entity_values} }}\n"
        "  ?entity ?p ?o .\n"
        f"  FILTER(?p IN ({property_list}))\n"
        f"  FILTER(?p != {sparql_iri(RDF_TYPE)} || ?o IN ({class_list}))\n"
        "}"
    )


# --------------------------------------------------------------------------- interface


class KnowledgeBase(ABC):
    """Runs SPARQL ``SELECT`` queries."""

    name: str = "knowledge_base"
    remote: bool = False

    def __init__(self) -> None:
        self.stats: Counter = Counter()

    @abstractmethod
    def select(self, query: str) -> list[Row]:
        """The solutions of a ``SELECT`` query (unbound variables are left out).

        Raises
        ------
        RemoteUnavailableError
            The store cannot be queried now (after retries).
        """

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this store's answers (no secrets)."""
        return {"name": self.name}

    def labels(
        self, classes: Sequence[str], lang: str = "en", page_size: int = 0
    ) -> dict[str, list[str]]:
        """Entity IRI -> labels, for every entity of ``classes``."""
        labels: dict[str, list[str]] = {}
        offset = 0
        while True:
            rows = self.select(labels_query(classes, lang, page_size or None, offset))
            for row in rows:
                entity, label = row.get("entity"), row.get("label")
                if entity is not None and label is not None and entity.kind == "uri":
                    labels.setdefault(entity.value, []).append(label.value)
            if not page_size or len(rows) < page_size:
                return labels
            offset += page_size

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release the store or connection."""

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- embedded


class EmbeddedKnowledgeBase(KnowledgeBase):
    """An in-memory Oxigraph store loaded from an RDF file (Turtle by default)."""

    name = "embedded"
    remote = False

    def __init__(self, path: str | Path, rdf_format: str = "turtle") -> None:
        super().__init__()
        import pyoxigraph

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"Knowledge base file {self.path} does not exist")
        formats = {
            "turtle": pyoxigraph.RdfFormat.TURTLE,
            "ntriples": pyoxigraph.RdfFormat.N_TRIPLES,
            "rdfxml": pyoxigraph.RdfFormat.RDF_XML,
        }
        self._store = pyoxigraph.Store()
        self._store.load(path=str(self.path), format=formats[rdf_format])
        self.n_triples = len(self._store)
        logger.info(
            "Loaded %d triples from %s into an embedded store", self.n_triples, plain(self.path)
        )

    def fingerprint(self) -> dict[str, Any]:
        stat = self.path.stat()
        return {
            "name": self.name,
            "path": str(self.path.resolve()),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
        }

    @staticmethod
    def _term(node: Any) -> Term:
        import pyoxigraph

        if isinstance(node, pyoxigraph.NamedNode):
            return Term("uri", node.value)
        if isinstance(node, pyoxigraph.Literal):
            return Term("literal", node.value, node.language, node.datatype.value)
        return Term("bnode", node.value)

    def select(self, query: str) -> list[Row]:
        self.stats["queries"] += 1
        solutions = self._store.query(query)
        names = [v.value for v in solutions.variables]
        rows = []
        for solution in solutions:
            row = {}
            for name in names:
                node = solution[name]
                if node is not None:
                    row[name] = self._term(node)
            rows.append(row)
        return rows

    def close(self) -> None:
        self._store = None


# --------------------------------------------------------------------------- remote


class SparqlEndpointKnowledgeBase(KnowledgeBase):
    """A SPARQL 1.1 endpoint through SPARQLWrapper (JSON results).

    Parameters
    ----------
    endpoint
        The query URL (``https://dbpedia.org/sparql``; Oxigraph: ``.../query``).
    default_graph
        Optional default graph IRI (DBpedia: ``http://dbpedia.org``).
    method
        ``POST`` (default; long ``VALUES`` blocks do not fit in a URL) or ``GET``.
    timeout_s, max_retries, backoff_s, max_backoff_s
        Timeout per query; timeouts, connection errors, HTTP 5xx/429 and
        malformed answers are retried with exponential backoff.
    """

    name = "sparql"
    remote = True

    def __init__(
        self,
        endpoint: str = DEFAULT_SPARQL_ENDPOINT,
        default_graph: str | None = None,
        method: str = "POST",
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_s: float = 2.0,
        max_backoff_s: float = 60.0,
        user_agent: str = "coldstart-semantic-enrichment/0.1 (SPARQLWrapper)",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.endpoint = validate_iri(str(endpoint))
        self.default_graph = validate_iri(default_graph) if default_graph else None
        self.method = str(method).upper()
        if self.method not in ("POST", "GET"):
            raise ValueError(f"SPARQL method must be POST or GET, got {method!r}")
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.user_agent = user_agent
        self._sleep = sleep

    def fingerprint(self) -> dict[str, Any]:
        return {"name": self.name, "endpoint": self.endpoint, "default_graph": self.default_graph}

    def _wrapper(self, query: str) -> Any:
        from SPARQLWrapper import GET, JSON, POST, SPARQLWrapper

        wrapper = SPARQLWrapper(self.endpoint, agent=self.user_agent)
        if self.default_graph:
            wrapper.addDefaultGraph(self.default_graph)
        wrapper.setQuery(query)
        wrapper.setReturnFormat(JSON)
        wrapper.setMethod(POST if self.method == "POST" else GET)
        wrapper.setTimeout(max(1, int(round(self.timeout_s))))
        return wrapper

    def _select_once(self, query: str) -> list[Row]:
        import http.client
        import urllib.error

        from SPARQLWrapper.SPARQLExceptions import (
            EndPointInternalError,
            EndPointNotFound,
            QueryBadFormed,
            Unauthorized,
            URITooLong,
        )

        self.stats["requests"] += 1
        try:
            answer = self._wrapper(query).queryAndConvert()
        except QueryBadFormed as exc:
            # HTTP 400. Every IRI in our queries is validated, so the endpoint refuses what
            # it cannot run (a size limit, a dialect): stop cleanly like any other fault
            raise RemoteUnavailableError(
                f"{self.endpoint} refused the query (HTTP 400 bad request): {str(exc)[:200]}"
            ) from None
        except (Unauthorized, EndPointNotFound, URITooLong) as exc:
            raise RemoteUnavailableError(f"{self.endpoint}: {type(exc).__name__}") from None
        except EndPointInternalError as exc:
            raise TransientError(f"{self.endpoint}: internal error {str(exc)[:200]}") from None
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                raise TransientError(f"{self.endpoint}: HTTP {exc.code}") from None
            raise RemoteUnavailableError(f"{self.endpoint}: HTTP {exc.code}") from None
        except TimeoutError:
            self.stats["timeouts"] += 1
            raise TransientError(
                f"{self.endpoint}: no answer within {self.timeout_s:g} s"
            ) from None
        except (urllib.error.URLError, ConnectionError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                self.stats["timeouts"] += 1
            raise TransientError(f"{self.endpoint}: {type(exc).__name__}: {reason}") from None
        except ValueError as exc:  # JSON decoding
            raise TransientError(f"{self.endpoint}: malformed answer ({exc})") from None
        try:
            bindings = answer["results"]["bindings"]
            return [
                {
                    name: Term(
                        "uri"
                        if value["type"] == "uri"
                        else "bnode"
                        if value["type"] == "bnode"
                        else "literal",
                        value["value"],
                        value.get("xml:lang"),
                        value.get("datatype"),
                    )
                    for name, value in binding.items()
                }
                for binding in bindings
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            raise TransientError(
                f"{self.endpoint}: malformed SPARQL JSON results ({exc!r})"
            ) from None

    def select(self, query: str) -> list[Row]:
        self.stats["queries"] += 1
        return call_with_retries(
            lambda: self._select_once(query),
            what=f"SPARQL endpoint {self.endpoint}",
            max_retries=self.max_retries,
            backoff_s=self.backoff_s,
            max_backoff_s=self.max_backoff_s,
            sleep=self._sleep,
        )


__all__ = [
    "DCT_SUBJECT",
    "EmbeddedKnowledgeBase",
    "KnowledgeBase",
    "RemoteUnavailableError",
    "SparqlEndpointKnowledgeBase",
    "Term",
    "entity_facts_query",
    "labels_query",
]

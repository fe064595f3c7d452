"""How knowledge-base facts become terms appended to a biography.

Every entity, fact and category becomes **one** token that survives
scikit-learn's default ``token_pattern`` ``(?u)\\b\\w\\w+\\b`` (and any
``\\w+``-based tokenizer): only letters, digits and underscores.

=====================  ==========================================  ==============================
what                   IRI(s)                                      term
=====================  ==========================================  ==============================
entity                 ``dbr:Brindle_Hollow_Records``               ``dbr_Brindle_Hollow_Records``
fact (property+object) ``dbo:genre`` + ``dbr:Jazz``                  ``dbo_genre__dbr_Jazz``
category               ``dbr:Category:Jazz_record_labels``          ``dbc_Jazz_record_labels``
literal object         ``dbo:genre`` + ``"Free jazz"``              ``dbo_genre__lit_Free_jazz``
other namespaces       ``http://example.org/kb/Foo``                ``res_Foo``
=====================  ==========================================  ==============================

Local names are percent-decoded, then every run of characters outside ``\\w``
becomes a single ``_`` (``AC/DC`` -> ``AC_DC``, ``Guns_N'_Roses`` ->
``Guns_N_Roses``), runs of ``_`` collapse and edge ``_`` are stripped, so the
double underscore ``__`` only ever separates a property from its object.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import unquote

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
DCT_SUBJECT = "http://purl.org/dc/terms/subject"
DBO = "http://dbpedia.org/ontology/"
DBR = "http://dbpedia.org/resource/"
DBC = DBR + "Category:"

_NOT_WORD = re.compile(r"[^\w]+")
_UNDERSCORES = re.compile(r"_+")


def slug(text: str) -> str:
    """``text`` as letters, digits and single underscores (never empty)."""
    cleaned = _UNDERSCORES.sub("_", _NOT_WORD.sub("_", unquote(text))).strip("_")
    if cleaned:
        return cleaned
    return "x" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def local_name(iri: str) -> str:
    """The part of an IRI after its last ``#`` or ``/``."""
    cut = max(iri.rfind("#"), iri.rfind("/"))
    return iri[cut + 1 :] if cut >= 0 else iri


def iri_term(iri: str) -> str:
    """One token for a resource, class, property or category IRI."""
    if iri.startswith(DBC):
        return "dbc_" + slug(iri[len(DBC) :])
    if iri.startswith(DBR):
        return "dbr_" + slug(iri[len(DBR) :])
    if iri.startswith(DBO):
        return "dbo_" + slug(iri[len(DBO) :])
    if iri == DCT_SUBJECT:
        return "dct_subject"
    return "res_" + slug(local_name(iri))


def literal_term(value: str) -> str:
    """One token for a literal object (dates, names)."""
    return "lit_" + slug(value)


def fact_term(property_iri: str, obj: str, object_kind: str = "uri") -> str:
    """One token for a (property, object) pair: ``<property>__<object>``."""
    obj_term = iri_term(obj) if object_kind == "uri" else literal_term(obj)
    return f"{iri_term(property_iri)}__{obj_term}"

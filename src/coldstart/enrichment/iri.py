"""Validation of entity IRIs before they go anywhere near a SPARQL query.

Entity IRIs come from outside: Babelfy's answers, cached files, the text itself.
They are inserted into queries as SPARQL ``IRIREF`` tokens (``<...>``), so an
accepted IRI must not be able to close the token or start another one. The
SPARQL grammar forbids ``<>"{}|^`\\`` and every code point up to U+0020 inside
``IRIREF``; SPARQL 1.1 also decodes ``\\uXXXX`` escapes *anywhere* in a query
before parsing, which is why the backslash is refused too. On top of that the
IRI must be absolute ``http(s)`` with a host, free of control/format characters
and other white space, and accepted by Oxigraph's RFC 3987 parser.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

MAX_IRI_LENGTH = 2048
ALLOWED_SCHEMES = ("http", "https")
_FORBIDDEN = frozenset('<>"{}|^`\\')


class InvalidIRIError(ValueError):
    """A value that must not be used as an entity IRI."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_iri(value: object) -> str:
    """Return ``value`` unchanged if it is a safe absolute http(s) IRI.

    Raises
    ------
    InvalidIRIError
        For anything else: not a string, empty, too long, a character that may
        not appear in a SPARQL ``IRIREF`` (``<>"{}|^`\\``, spaces, newlines and
        every other control or white-space character), a scheme other than
        http/https, no host, or not an IRI by RFC 3987.
    """
    if not isinstance(value, str):
        raise InvalidIRIError(f"IRI must be a string, got {type(value).__name__}")
    if not value or len(value) > MAX_IRI_LENGTH:
        raise InvalidIRIError(f"IRI is empty or longer than {MAX_IRI_LENGTH}: {_shown(value)}")
    for char in value:
        if (
            char in _FORBIDDEN
            or ord(char) <= 0x20
            or char.isspace()
            or unicodedata.category(char)[0] in ("C", "Z")
        ):
            raise InvalidIRIError(f"IRI contains the forbidden character {char!r}: {_shown(value)}")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.netloc:
        raise InvalidIRIError(f"IRI is not an absolute http(s) IRI with a host: {_shown(value)}")
    from pyoxigraph import NamedNode

    try:
        NamedNode(value)
    except ValueError as exc:
        raise InvalidIRIError(f"not an IRI ({exc}): {_shown(value)}") from None
    return value


def is_valid_iri(value: object) -> bool:
    """Whether :func:`validate_iri` accepts ``value``."""
    try:
        validate_iri(value)
    except InvalidIRIError:
        return False
    return True


def sparql_iri(value: object) -> str:
    """The SPARQL ``IRIREF`` token for a validated IRI: ``<value>``."""
    return f"<{validate_iri(value)}>"

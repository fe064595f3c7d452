"""Entity linking: text -> mentions of knowledge-base entities.

One small interface (:class:`EntityLinker`, method :meth:`~EntityLinker.link`)
and two implementations that return the same structure, a list of
:class:`Mention`:

* :class:`LabelLinker` (the offline default): finds the ``rdfs:label`` of
  knowledge-base entities in the text, longest match first, tolerant to case,
  accents and punctuation.
* :class:`BabelfyLinker`: Babelfy's HTTP API (``requests``), with timeouts,
  retries with backoff, quota detection, and a key that never reaches a log.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from coldstart.logsafe import plain

from .cache import DiskCache, NullCache
from .credentials import Secret
from .iri import InvalidIRIError, validate_iri
from .remote import (
    QuotaExceededError,
    RemoteRequestError,
    RemoteUnavailableError,
    TransientError,
    call_with_retries,
)

logger = logging.getLogger(__name__)

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Mention:
    """One linked text fragment.

    Attributes
    ----------
    start, end
        Character offsets in the text, ``text[start:end]`` (end exclusive;
        Babelfy's inclusive ``charFragment.end`` is converted).
    surface
        The fragment itself.
    entity
        The DBpedia resource IRI (validated).
    synset_id
        BabelNet synset id (``bn:...``), ``None`` for the offline linker.
    score
        The linker's confidence (Babelfy's ``score``; offline: 1 / number of
        entities sharing the matched label).
    source
        Who linked it (Babelfy's ``source``, e.g. ``BABELFY`` or ``MCS``;
        offline: ``LABEL``).
    """

    start: int
    end: int
    surface: str
    entity: str
    synset_id: str | None
    score: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Mention:
        return cls(
            start=int(data["start"]),
            end=int(data["end"]),
            surface=str(data["surface"]),
            entity=str(data["entity"]),
            synset_id=None if data.get("synset_id") is None else str(data["synset_id"]),
            score=float(data["score"]),
            source=str(data["source"]),
        )


def resolve_overlaps(mentions: Iterable[Mention]) -> list[Mention]:
    """Keep non-overlapping mentions, preferring longer fragments, then higher scores."""
    ranked = sorted(mentions, key=lambda m: (-(m.end - m.start), -m.score, m.start, m.entity))
    kept: list[Mention] = []
    for mention in ranked:
        if all(mention.end <= k.start or mention.start >= k.end for k in kept):
            kept.append(mention)
    return sorted(kept, key=lambda m: (m.start, m.end))


class EntityLinker(ABC):
    """Finds mentions of knowledge-base entities in a text."""

    #: short name used in logs, the report and the cache namespace
    name: str = "linker"
    #: whether calls leave the machine (remote linkers are cached on disk)
    remote: bool = False

    def __init__(self) -> None:
        self.stats: Counter = Counter()
        #: where a remote linker keeps each request's answer as it arrives (set by the caller)
        self.request_cache: DiskCache | NullCache = NullCache()

    @abstractmethod
    def link(self, text: str) -> list[Mention]:
        """The mentions in ``text``, sorted by position, not overlapping.

        Raises
        ------
        RemoteRequestError
            This text was refused (skip it).
        RemoteUnavailableError
            The service cannot be used now (stop; :class:`QuotaExceededError`
            when its quota is used up).
        """

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this linker's answers (no secrets): cache namespace, report."""
        return {"name": self.name}

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections."""


# --------------------------------------------------------------------------- offline


def normalize_token(token: str) -> str:
    """Case-folded token without accents (``Beyoncé`` -> ``beyonce``)."""
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _tokens(text: str) -> list[tuple[str, int, int]]:
    return [(normalize_token(m.group()), m.start(), m.end()) for m in _WORD.finditer(text)]


def label_key(label: str) -> tuple[str, ...]:
    """A label as the normalised word sequence the linker matches on."""
    return tuple(token for token, _, _ in _tokens(label))


class LabelLinker(EntityLinker):
    """Offline linker: longest-match search for entity labels.

    The text and the labels are cut into ``\\w+`` words, case-folded and
    stripped of accents, so ``AC/DC``, ``ac dc`` and ``AC-DC`` all match the
    label ``AC/DC``, while ``Jazz`` does not match inside ``Jazzy``. At every
    position the longest label wins and matching resumes after it.

    Parameters
    ----------
    labels
        Entity IRI -> its labels.
    min_label_chars
        Labels shorter than this (letters and digits, after normalisation) are
        ignored: two-letter labels match too much ordinary text.
    """

    name = "offline_labels"
    remote = False

    def __init__(self, labels: Mapping[str, Iterable[str]], min_label_chars: int = 3) -> None:
        super().__init__()
        self.min_label_chars = int(min_label_chars)
        index: dict[tuple[str, ...], set[str]] = defaultdict(set)
        for entity, entity_labels in labels.items():
            try:
                validate_iri(entity)
            except InvalidIRIError as exc:
                self.stats["rejected_iris"] += 1
                logger.warning("Offline linker: skipping entity (%s)", plain(exc))
                continue
            for label in entity_labels:
                key = label_key(str(label))
                if key and sum(len(t) for t in key) >= self.min_label_chars:
                    index[key].add(entity)
        self._index = {key: sorted(entities) for key, entities in index.items()}
        self._lengths: dict[str, list[int]] = defaultdict(list)
        for key in self._index:
            self._lengths[key[0]].append(len(key))
        for first in self._lengths:
            self._lengths[first] = sorted(set(self._lengths[first]), reverse=True)
        self.n_labels = len(self._index)
        self.n_entities = len({e for entities in self._index.values() for e in entities})
        self.n_ambiguous_labels = sum(1 for entities in self._index.values() if len(entities) > 1)

    def fingerprint(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "min_label_chars": self.min_label_chars,
            "n_labels": self.n_labels,
            "n_entities": self.n_entities,
        }

    def link(self, text: str) -> list[Mention]:
        tokens = _tokens(text or "")
        words = [t for t, _, _ in tokens]
        mentions: list[Mention] = []
        i = 0
        while i < len(tokens):
            for length in self._lengths.get(words[i], ()):
                key = tuple(words[i : i + length])
                entities = self._index.get(key) if len(key) == length else None
                if entities:
                    start, end = tokens[i][1], tokens[i + length - 1][2]
                    # an ambiguous label links to the first IRI in sorted order, with a
                    # score that says how ambiguous it was
                    mentions.append(
                        Mention(
                            start,
                            end,
                            text[start:end],
                            entities[0],
                            None,
                            1.0 / len(entities),
                            "LABEL",
                        )
                    )
                    i += length
                    break
            else:
                i += 1
        self.stats["texts"] += 1
        self.stats["mentions"] += len(mentions)
        return mentions


# --------------------------------------------------------------------------- Babelfy

DEFAULT_BABELFY_ENDPOINT = "https://babelfy.io/v1/disambiguate"
_QUOTA = re.compile(r"limit|quota|exceeded|too many requests", re.IGNORECASE)


def split_text(text: str, max_chars: int) -> list[tuple[int, str]]:
    """Cut ``text`` into ``(offset, chunk)`` pieces of at most ``max_chars``.

    Cuts after the last sentence end (``. ``, ``! ``, ``? ``, newline) in the
    window, else after the last space, else hard; the pieces concatenate back
    to ``text``.
    """
    if max_chars <= 0 or len(text) <= max_chars:
        return [(0, text)] if text else []
    pieces: list[tuple[int, str]] = []
    start = 0
    while start < len(text):
        end = min(start + max_chars, len(text))
        if end < len(text):
            window = text[start:end]
            cut = max(
                window.rfind(s) + len(s) if s in window else -1 for s in (". ", "! ", "? ", "\n")
            )
            if cut <= 0:
                cut = window.rfind(" ") + 1
            if cut > 0:
                end = start + cut
        pieces.append((start, text[start:end]))
        start = end
    return pieces


class _ScrubKey(logging.Filter):
    """Replaces a secret in log records of the HTTP libraries (urllib3 logs URLs at DEBUG)."""

    LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3", "requests")

    def __init__(self, scrub: Callable[[str], str]) -> None:
        super().__init__()
        self._scrub = scrub

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self._scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True

    def install(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).addFilter(self)

    def remove(self) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeFilter(self)


class BabelfyLinker(EntityLinker):
    """Babelfy's ``disambiguate`` HTTP API.

    Every annotation of Babelfy's JSON answer
    (``[{"charFragment": {"start", "end"}, "babelSynsetID", "DBpediaURL",
    "score", "source", ...}]``) with a DBpedia URL becomes a :class:`Mention`;
    the URL must pass :func:`~coldstart.enrichment.iri.validate_iri`.

    Parameters
    ----------
    key
        The API key (a :class:`Secret` or a string). It is sent in the request
        body (``method: POST``) so that it is not part of any URL, and it is
        scrubbed from every error message.
    endpoint, lang
        Babelfy's ``disambiguate`` URL and the text language (``EN``).
    method
        ``POST`` (default, form-encoded body) or ``GET`` (query string).
    timeout_s, max_retries, backoff_s, max_backoff_s
        Per-request timeout; transient failures (timeouts, connection errors,
        HTTP 5xx/408, malformed JSON) are retried with exponential backoff.
    max_chars
        Longer texts are sent in pieces (offsets are mapped back).
    min_score
        Annotations with a lower ``score`` are dropped.
    keep_overlapping
        Babelfy also annotates fragments inside other fragments (``York`` in
        ``New York``); by default only the longest non-overlapping are kept.
    params
        Extra Babelfy parameters (``annType``, ``match``, ``th``, ...).
    session, sleep
        Injected for tests.
    """

    name = "babelfy"
    remote = True

    def __init__(
        self,
        key: Secret | str | None,
        endpoint: str = DEFAULT_BABELFY_ENDPOINT,
        lang: str = "EN",
        method: str = "POST",
        timeout_s: float = 30.0,
        max_retries: int = 4,
        backoff_s: float = 2.0,
        max_backoff_s: float = 60.0,
        max_chars: int = 3000,
        min_score: float = 0.0,
        keep_overlapping: bool = False,
        params: Mapping[str, Any] | None = None,
        session: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        secret = key if isinstance(key, Secret) else Secret(key)
        if not secret:
            from .credentials import credentials_hint

            raise ValueError(f"The Babelfy linker needs an API key: {credentials_hint()}.")
        extra = dict(params or {})
        if any(str(k).lower() == "key" for k in extra):
            from .credentials import credentials_hint

            raise ValueError(f"Never put the Babelfy key into parameters: {credentials_hint()}")
        self._key = secret
        self.endpoint = str(endpoint)
        self.lang = str(lang)
        self.method = str(method).upper()
        if self.method not in ("POST", "GET"):
            raise ValueError(f"Babelfy method must be POST or GET, got {method!r}")
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.max_chars = int(max_chars)
        self.min_score = float(min_score)
        self.keep_overlapping = bool(keep_overlapping)
        self.params = extra
        self._session = session
        self._sleep = sleep
        self._log_filter = _ScrubKey(self._scrub)
        self._log_filter.install()

    def fingerprint(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "endpoint": self.endpoint,
            "lang": self.lang,
            "max_chars": self.max_chars,
            "min_score": self.min_score,
            "keep_overlapping": self.keep_overlapping,
            "params": self.params,
        }

    def __repr__(self) -> str:
        return f"BabelfyLinker(endpoint={self.endpoint!r}, lang={self.lang!r}, key=********)"

    # ---- HTTP

    def _scrub(self, message: str) -> str:
        from urllib.parse import quote, quote_plus

        secret = self._key.reveal() or ""
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            if form:
                message = message.replace(form, "********")
        return message

    def _session_or_new(self) -> Any:
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.headers["Accept-Encoding"] = "gzip"
        return self._session

    def _request_once(self, text: str) -> list[dict[str, Any]]:
        import requests

        fields = {**self.params, "text": text, "lang": self.lang, "key": self._key.reveal()}
        session = self._session_or_new()
        self.stats["requests"] += 1
        try:
            if self.method == "POST":
                response = session.post(self.endpoint, data=fields, timeout=self.timeout_s)
            else:
                response = session.get(self.endpoint, params=fields, timeout=self.timeout_s)
        except requests.Timeout:
            self.stats["timeouts"] += 1
            raise TransientError(f"no answer within {self.timeout_s:g} s") from None
        except requests.RequestException as exc:
            raise TransientError(self._scrub(f"{type(exc).__name__}: {exc}")) from None

        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = None
        message = payload.get("message") if isinstance(payload, dict) else None
        message = self._scrub(str(message)) if message is not None else None
        if status == 429 or (message and _QUOTA.search(message)):
            raise QuotaExceededError(f"Babelfy refused the request: {message or f'HTTP {status}'}")
        if status in (401, 403):
            raise RemoteUnavailableError(f"Babelfy rejected the key: {message or f'HTTP {status}'}")
        if status == 408 or status >= 500:
            raise TransientError(f"HTTP {status}" + (f": {message}" if message else ""))
        if status >= 400:
            raise RemoteRequestError(f"HTTP {status}" + (f": {message}" if message else ""))
        if isinstance(payload, list):
            return payload
        if message is not None:
            raise RemoteRequestError(f"Babelfy error: {message}")
        self.stats["malformed_answers"] += 1
        raise TransientError("malformed answer (not a JSON list of annotations)")

    def _request(self, text: str) -> list[dict[str, Any]]:
        """Babelfy's annotations of one piece of text: from the request cache, else asked.

        Each answer is cached (atomically) as it arrives, so a run killed in the middle
        of a long biography does not ask again for the pieces already answered.
        """
        import hashlib

        key = "request:" + hashlib.sha1(text.encode("utf-8")).hexdigest()
        cached = self.request_cache.get(key)
        if isinstance(cached, dict) and isinstance(cached.get("annotations"), list):
            self.stats["requests_from_cache"] += 1
            return cached["annotations"]
        annotations = call_with_retries(
            lambda: self._request_once(text),
            what="Babelfy",
            max_retries=self.max_retries,
            backoff_s=self.backoff_s,
            max_backoff_s=self.max_backoff_s,
            sleep=self._sleep,
        )
        self.request_cache.put(key, {"annotations": annotations})
        return annotations

    # ---- parsing

    def _parse(self, annotations: list[Any], chunk: str, offset: int) -> list[Mention]:
        mentions = []
        for item in annotations:
            try:
                fragment = item["charFragment"]
                start, end = int(fragment["start"]), int(fragment["end"]) + 1
                url = item.get("DBpediaURL") or ""
                score = float(item.get("score", 0.0))
                synset = item.get("babelSynsetID")
                source = str(item.get("source", "BABELFY"))
            except (KeyError, TypeError, ValueError, AttributeError):
                self.stats["malformed_annotations"] += 1
                continue
            if not 0 <= start < end <= len(chunk):
                self.stats["malformed_annotations"] += 1
                continue
            if not url:
                self.stats["no_dbpedia_url"] += 1
                continue
            if score < self.min_score:
                self.stats["below_min_score"] += 1
                continue
            try:
                entity = validate_iri(url)
            except InvalidIRIError as exc:
                self.stats["rejected_iris"] += 1
                logger.warning("Babelfy: rejected DBpedia URL (%s)", plain(exc))
                continue
            mentions.append(
                Mention(
                    start + offset,
                    end + offset,
                    chunk[start:end],
                    entity,
                    None if synset is None else str(synset),
                    score,
                    source,
                )
            )
        return mentions

    def link(self, text: str) -> list[Mention]:
        mentions: list[Mention] = []
        for offset, chunk in split_text(text or "", self.max_chars):
            if chunk.strip():
                mentions.extend(self._parse(self._request(chunk), chunk, offset))
        self.stats["texts"] += 1
        if not self.keep_overlapping:
            mentions = resolve_overlaps(mentions)
        self.stats["mentions"] += len(mentions)
        return sorted(mentions, key=lambda m: (m.start, m.end))

    def close(self) -> None:
        self._log_filter.remove()
        if self._session is not None:
            self._session.close()
            self._session = None

    def __del__(self) -> None:
        filter_ = getattr(self, "_log_filter", None)
        if filter_ is not None:
            filter_.remove()


__all__ = [
    "BabelfyLinker",
    "EntityLinker",
    "LabelLinker",
    "Mention",
    "QuotaExceededError",
    "RemoteRequestError",
    "RemoteUnavailableError",
    "resolve_overlaps",
    "split_text",
]

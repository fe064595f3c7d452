"""A small on-disk JSON cache: one file per artist or per entity, written atomically.

Layout: ``<root>/<namespace>/<sha1[:2]>/<sha1>.json`` where ``sha1`` hashes the
key (an artist id, an entity IRI). The namespace names the service and a hash
of its configuration (never of a secret), so changing the endpoint, the
language or the fetched properties starts a fresh namespace instead of reading
answers to another question. Each file is written to a temporary file in the
same folder, flushed to disk and renamed over the target, so a crash leaves
either the old entry or the new one, never half a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from coldstart.logsafe import plain

logger = logging.getLogger(__name__)


def config_digest(config: dict[str, Any]) -> str:
    """A short stable hash of a JSON-able configuration."""
    text = json.dumps(config, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def atomic_write_json(path: Path, value: Any) -> None:
    """Write ``value`` as JSON to ``path`` via a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(value, stream, ensure_ascii=False)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class DiskCache:
    """JSON values by string key under ``root / namespace``.

    A missing, unreadable or foreign file (another key hashed there) is a miss.
    """

    enabled = True

    def __init__(self, root: str | Path, namespace: str, description: dict | None = None) -> None:
        self.directory = Path(root) / namespace
        self.directory.mkdir(parents=True, exist_ok=True)
        if description is not None:
            marker = self.directory / "_config.json"
            if not marker.exists():
                atomic_write_json(marker, description)

    def _path(self, key: str) -> Path:
        digest = hashlib.sha1(key.encode("utf-8")).hexdigest()
        return self.directory / digest[:2] / f"{digest}.json"

    def get(self, key: str) -> Any | None:
        """The cached value for ``key``, or ``None``."""
        path = self._path(key)
        try:
            with open(path, encoding="utf-8") as stream:
                entry = json.load(stream)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("Ignoring unreadable cache file %s (%s)", plain(path), plain(exc))
            return None
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        return entry.get("value")

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-able) for ``key`` atomically."""
        atomic_write_json(self._path(key), {"key": key, "value": value})

    def child(self, name: str) -> DiskCache:
        """A cache in a sub-folder (not counted by ``len`` of this one)."""
        return DiskCache(self.directory, name)

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("??/*.json"))

    def __bool__(self) -> bool:  # an empty cache is still a cache
        return True

    def __repr__(self) -> str:
        return f"DiskCache({str(self.directory)!r})"


class NullCache:
    """The cache used for local (offline) backends: remembers nothing."""

    enabled = False
    directory = None

    def get(self, key: str) -> Any | None:
        return None

    def put(self, key: str, value: Any) -> None:
        return None

    def child(self, name: str) -> NullCache:
        return self

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "NullCache()"

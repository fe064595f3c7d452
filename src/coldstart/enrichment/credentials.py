"""The Babelfy key as a catalog dataset, so that it never becomes a parameter.

kedro-mlflow logs every parameter to MLflow, so the key cannot live in
``parameters*.yml``. Kedro's own mechanism for secrets is ``credentials``:
a catalog entry names a section of ``conf/<env>/credentials.yml`` and Kedro
hands that section to the dataset's constructor. :class:`SecretDataset` is the
smallest dataset that does this: it loads a :class:`Secret` wrapping one field
of its credentials, and its repr, description and ``str`` never show it.

The base catalog declares it *without* credentials (the offline default needs
none and must run without a credentials file, while Kedro fails on a
``credentials:`` name it cannot find); switching to Babelfy overrides the entry
in ``conf/local/catalog.yml`` with ``credentials: babelfy``. See
``conf/local/credentials.yml.example`` and ``docs/semantic_enrichment.md``.
"""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError


class Secret:
    """A secret string that does not show itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            value = str(value)
        self._value = value or None

    def reveal(self) -> str | None:
        """The secret itself (``None`` when unset)."""
        return self._value

    def __bool__(self) -> bool:
        return self._value is not None

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret(None)"

    __str__ = __repr__


class SecretDataset(AbstractDataset[None, Secret]):
    """Loads one field of a credentials section as a :class:`Secret`.

    Parameters
    ----------
    credentials
        The credentials section Kedro resolved from ``credentials: <name>``
        (absent: the secret is unset).
    field
        Which key of that section holds the secret (default ``key``).
    """

    def __init__(
        self,
        credentials: dict[str, Any] | None = None,
        field: str = "key",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if credentials is not None and not isinstance(credentials, dict):
            raise DatasetError(
                "SecretDataset: credentials must be a mapping (a credentials.yml section)"
            )
        self._field = field
        self._secret = Secret((credentials or {}).get(field))
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"field": self._field, "set": bool(self._secret)}

    def load(self) -> Secret:
        return self._secret

    def save(self, data: Any) -> None:
        raise DatasetError(
            "SecretDataset is read-only: secrets belong in conf/local/credentials.yml"
        )

    def _exists(self) -> bool:
        return True

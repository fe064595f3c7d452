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

#: The Kedro environment of the current run (set by ``coldstart.hooks.RunGuardHooks``):
#: Kedro reads credentials from ``conf/base`` and ``conf/<env>`` only, so the hint
#: must name the folder that is actually read.
_RUN_ENV: str | None = None


def set_run_env(env: str | None) -> None:
    """Record the Kedro environment in use (``None``: the default, ``local``)."""
    global _RUN_ENV
    _RUN_ENV = env


def credentials_hint() -> str:
    """Where to put the Babelfy key for the environment in use (read by Kedro)."""
    env = _RUN_ENV or "local"
    where = f"conf/{env}"
    hint = (
        f"put `babelfy: {{key: ...}}` into {where}/credentials.yml and point the "
        f"`babelfy_credentials` catalog entry at it with `credentials: babelfy` "
        f"(in {where}/catalog.yml; see conf/local/credentials.yml.example)"
    )
    if env != "local":
        hint += f"; conf/local is not read under --env={env}"
    return hint


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
        raise DatasetError(f"SecretDataset is read-only: {credentials_hint()}")

    def _exists(self) -> bool:
        return True

"""The release model: every fitted artefact new releases need, in one folder.

Recommending a new artist or track needs the trained row models, the fitted
vectorisers, the train-set audio standardisation, the catalogue's artist
embeddings A' (for new tracks by known artists), the user factors and the
knowledge base the biographies are linked against. :class:`ReleaseModel` holds
them; :func:`write_bundle` / :func:`read_bundle` store them as one folder in
formats that cannot run code when read (``.keras`` loaded with ``safe_mode``,
``.npy`` without pickles, JSON, Parquet, Turtle), with the SHA-256 of every file
in ``manifest.json``. A file that does not match its recorded hash is refused.

The folder is what the ``releases`` pipeline reads and what the MLflow model
registered by a training run carries as its one artifact.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FORMAT = "coldstart-release-bundle/1"
MANIFEST = "manifest.json"
LEVELS = ("artist", "track")


class BundleError(ValueError):
    """A release bundle that is incomplete, altered or of another format."""


@dataclass
class ReleaseModel:
    """Everything the release predictions need, loaded.

    Attributes
    ----------
    rows
        Per row namespace: ``approach``, ``level`` (artist | track), ``kind``
        (text | song_ff | late_fusion | audio), ``source`` (text rows: biography |
        enriched | tags), ``embedding_from`` (song rows reading A'), ``requires``
        (the content an item needs: biography, tags, audio), ``val_loss``,
        ``best_epoch``.
    ranking
        Per level, the candidate rows best validation loss first: an item is served
        by the first row whose ``requires`` its content meets.
    settings
        The parameter blocks prediction reads (``releases``, ``semantic_enrichment``,
        ``audio_features``, ``patches``, ``ingestion``).
    models, vectorizers, artist_embeddings
        Keras models and fitted vectorisers by row; A' of every catalogue artist by
        source row (rows = ``catalogue_artists.item_idx``).
    catalogue_artists
        ``artist_id``, ``artist_name``, ``item_idx`` of the artists with history.
    user_ids, user_factors
        User ids (rows of every user-factor matrix) and the WMF user factors by
        level.
    catalogue_means
        Per catalogue artist (rows = ``catalogue_artists`` order), the mean song
        factors of its train songs: the catalogue-mean row of Table 3 serves new
        tracks of catalogue artists from them (None when no such row serves).
    audio_mean, audio_std
        Per-bin standardisation of the log-CQT fitted on train tracks.
    knowledge_base
        Path of the Turtle knowledge base biographies are linked against (None when
        enrichment is remote, or no row needs it).
    """

    rows: dict[str, dict[str, Any]]
    ranking: dict[str, list[str]]
    settings: dict[str, Any]
    models: dict[str, Any]
    vectorizers: dict[str, Any]
    artist_embeddings: dict[str, np.ndarray]
    catalogue_artists: pd.DataFrame
    user_ids: np.ndarray
    user_factors: dict[str, np.ndarray]
    catalogue_means: np.ndarray | None = None
    audio_mean: np.ndarray | None = None
    audio_std: np.ndarray | None = None
    knowledge_base: Path | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """What the model serves with, for logs and reports (no arrays)."""
        return {
            "ranking": self.ranking,
            "rows": {
                ns: {k: v for k, v in row.items() if k != "requires"}
                | {"requires": sorted(row["requires"])}
                for ns, row in self.rows.items()
            },
            "n_users": len(self.user_ids),
            "n_catalogue_artists": len(self.catalogue_artists),
        }


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, as hex."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as stream:
        np.save(stream, np.ascontiguousarray(array), allow_pickle=False)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True, allow_nan=False), encoding="utf-8")


def write_bundle(model: ReleaseModel, folder: str | Path) -> None:
    """Write ``model`` to ``folder`` atomically.

    Everything is written into a temporary sibling folder, hashed, and swapped in
    by renames, so a killed save leaves either the previous bundle or none, never
    a partial one.
    """
    from coldstart.text.vectorizer_state import vectorizer_state

    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        for sub in ("models", "vectorizers", "embeddings"):
            (tmp / sub).mkdir()
        for ns, network in model.models.items():
            network.save(tmp / "models" / f"{ns}.keras")
        for ns, vectorizer in model.vectorizers.items():
            _write_json(tmp / "vectorizers" / f"{ns}.json", vectorizer_state(vectorizer))
        for ns, embeddings in model.artist_embeddings.items():
            _save_npy(tmp / "embeddings" / f"{ns}.npy", np.asarray(embeddings, np.float32))
        for level, factors in model.user_factors.items():
            _save_npy(tmp / f"user_factors_{level}.npy", np.asarray(factors, np.float32))
        pd.DataFrame({"user_id": np.asarray(model.user_ids, dtype=str)}).to_parquet(
            tmp / "users.parquet", index=False
        )
        model.catalogue_artists[["artist_id", "artist_name", "item_idx"]].to_parquet(
            tmp / "artists.parquet", index=False
        )
        if model.catalogue_means is not None:
            _save_npy(tmp / "catalogue_means.npy", np.asarray(model.catalogue_means, np.float32))
        if model.audio_mean is not None:
            _write_json(
                tmp / "audio_stats.json",
                {
                    "mean": np.asarray(model.audio_mean).tolist(),
                    "std": np.asarray(model.audio_std).tolist(),
                },
            )
        if model.knowledge_base is not None:
            shutil.copyfile(model.knowledge_base, tmp / "knowledge_base.ttl")
        files = {
            path.relative_to(tmp).as_posix(): file_sha256(path)
            for path in sorted(tmp.rglob("*"))
            if path.is_file()
        }
        _write_json(
            tmp / MANIFEST,
            {
                "format": FORMAT,
                "rows": {
                    ns: {**row, "requires": sorted(row["requires"])}
                    for ns, row in model.rows.items()
                },
                "ranking": model.ranking,
                "settings": model.settings,
                "provenance": model.provenance,
                "files": files,
            },
        )
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
            os.replace(target, old / target.name)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _verified(folder: Path, files: dict[str, str], name: str) -> Path:
    path = folder / name
    if name not in files:
        raise BundleError(f"{folder}: '{name}' is not listed in {MANIFEST}")
    if not path.is_file():
        raise BundleError(f"{folder}: '{name}' is missing")
    actual = file_sha256(path)
    if actual != files[name]:
        raise BundleError(
            f"{path}: SHA-256 {actual[:12]}… does not match the {files[name][:12]}… recorded "
            f"in {MANIFEST} when the bundle was written; refusing to load a file that changed"
        )
    return path


def read_bundle(folder: str | Path) -> ReleaseModel:
    """Load and verify the bundle :func:`write_bundle` wrote.

    Raises
    ------
    BundleError
        No manifest, another format, a listed file missing or altered, or a file
        present that the manifest does not list.
    """
    import keras

    from coldstart.text.vectorizer_state import vectorizer_from_state

    root = Path(folder)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(
            f"{root} holds no release model ({MANIFEST} missing): run the training "
            "(`kedro run`) first, it writes the bundle at its end"
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise BundleError(
            f"{manifest_path}: format {manifest.get('format')!r}, expected {FORMAT!r}"
        )
    files: dict[str, str] = manifest["files"]
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {MANIFEST}
    unlisted = sorted(present - set(files))
    if unlisted:
        raise BundleError(f"{root}: files not written with the bundle: {unlisted}")

    def npy(name: str) -> np.ndarray:
        return np.load(_verified(root, files, name), allow_pickle=False)

    def load_json(name: str) -> Any:
        return json.loads(_verified(root, files, name).read_text(encoding="utf-8"))

    rows = {
        ns: {**row, "requires": frozenset(row["requires"])} for ns, row in manifest["rows"].items()
    }
    models = {
        name[len("models/") : -len(".keras")]: keras.models.load_model(
            _verified(root, files, name), compile=False, safe_mode=True
        )
        for name in files
        if name.startswith("models/")
    }
    vectorizers = {
        name[len("vectorizers/") : -len(".json")]: vectorizer_from_state(load_json(name))
        for name in files
        if name.startswith("vectorizers/")
    }
    embeddings = {
        name[len("embeddings/") : -len(".npy")]: npy(name)
        for name in files
        if name.startswith("embeddings/")
    }
    stats = load_json("audio_stats.json") if "audio_stats.json" in files else None
    return ReleaseModel(
        rows=rows,
        ranking={level: list(names) for level, names in manifest["ranking"].items()},
        settings=manifest["settings"],
        models=models,
        vectorizers=vectorizers,
        artist_embeddings=embeddings,
        catalogue_artists=pd.read_parquet(_verified(root, files, "artists.parquet")),
        user_ids=pd.read_parquet(_verified(root, files, "users.parquet"))["user_id"]
        .astype(str)
        .to_numpy(),
        user_factors={
            level: npy(f"user_factors_{level}.npy")
            for level in LEVELS
            if f"user_factors_{level}.npy" in files
        },
        catalogue_means=npy("catalogue_means.npy") if "catalogue_means.npy" in files else None,
        audio_mean=None if stats is None else np.asarray(stats["mean"], np.float32),
        audio_std=None if stats is None else np.asarray(stats["std"], np.float32),
        knowledge_base=_verified(root, files, "knowledge_base.ttl")
        if "knowledge_base.ttl" in files
        else None,
        provenance=manifest.get("provenance", {}),
    )

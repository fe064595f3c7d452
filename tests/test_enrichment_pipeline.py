"""The semantic_enrichment pipeline on a DataCatalog, and its configuration files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from coldstart.datasets import RawPathDataset
from coldstart.enrichment import SecretDataset
from coldstart.pipelines.semantic_enrichment.pipeline import create_pipeline

PROJECT = Path(__file__).resolve().parents[1]
KB_TTL = PROJECT / "tests" / "fixtures" / "enrichment" / "knowledge_base.ttl"
OUTPUTS = (
    "artists_enriched",
    "enrichment_report",
    "enrichment_mentions",
    "enrichment_entity_facts",
)


def _config(conf: Path, data_root: Path) -> OmegaConfigLoader:
    return OmegaConfigLoader(
        str(conf),
        base_env="base",
        default_run_env="local",
        runtime_params={"data_root": str(data_root)},
    )


def _project_params(data_root: Path) -> dict:
    params = _config(PROJECT / "conf", data_root)["parameters"]["semantic_enrichment"]
    return {**params, "progress_bar": False}


def _artists() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "artist_id": ["ARB", "ARA", "ARC", "ARD"],
            "artist_name": ["B", "A", "C", "D"],
            "split": ["train", "train", "val", "test"],
            "biography": [
                "Mara Quill is a saxophone player from New Orleans on Brindle Hollow Records.",
                "The Copper Owls play free jazz and blues; they covered AC/DC once.",
                "A quiet duo with no famous friends.",
                "",
            ],
            "item_idx": [0, 1, 2, 3],
        }
    )


def _catalog(params: dict, kb_path: Path, data_root: Path) -> DataCatalog:
    """Inputs in memory; outputs as the project's catalog declares them, under ``data_root``."""
    entries = _config(PROJECT / "conf", data_root)["catalog"]
    catalog = DataCatalog.from_config(
        {name: entries[name] for name in (*OUTPUTS, "enrichment_cache")}
    )
    catalog["artists"] = MemoryDataset(_artists())
    catalog["raw_knowledge_base"] = RawPathDataset(str(kb_path), optional=True)
    catalog["babelfy_credentials"] = SecretDataset()
    catalog["params:semantic_enrichment"] = MemoryDataset(params)
    return catalog


def test_pipeline_enriches_offline_by_default(tmp_path: Path) -> None:
    params = _project_params(tmp_path)
    assert params["linker"]["type"] == "offline" and params["knowledge_base"]["type"] == "embedded"
    assert params["cache"]["dir"] == f"{tmp_path}/02_intermediate/enrichment_cache"
    pipeline = create_pipeline()
    assert {n.name for n in pipeline.nodes} == {
        "link_entities",
        "lookup_entity_facts",
        "enrich_biographies",
        "report_enrichment",
    }
    catalog = _catalog(params, KB_TTL, tmp_path)
    SequentialRunner().run(pipeline, catalog)

    enriched = catalog["artists_enriched"].load()
    assert list(enriched.columns) == [
        "artist_id",
        "biography_enriched",
        "n_entities",
        "n_appended_terms",
    ]
    assert enriched["artist_id"].tolist() == ["ARB", "ARA", "ARC", "ARD"]
    assert enriched["n_entities"].tolist() == [4, 4, 0, 0]
    first = enriched.loc[0, "biography_enriched"]
    assert first.startswith(_artists().loc[0, "biography"] + " dbr_Mara_Quill ")
    assert "dbc_Jazz_record_labels" in first and "dbo_genre__dbr_Jazz" in first
    assert enriched.loc[2, "biography_enriched"] == _artists().loc[2, "biography"]

    report = catalog["enrichment_report"].load()
    assert report["complete"] and report["n_artists"] == 4
    assert report["share_artists_with_entities"] == 0.5
    assert report["artists_without_entities"] == ["ARC", "ARD"]
    assert report["entities_per_class"]["Band"] == 2
    assert report["entities"]["dbr_Mara_Quill"]["properties"] == 5
    assert report["appended_terms_per_artist"]["mean"] == enriched["n_appended_terms"].mean()
    assert not (tmp_path / "02_intermediate" / "enrichment_cache").exists()  # offline: no cache
    assert (tmp_path / "02_intermediate" / "artists_enriched.parquet").is_file()
    assert len(list((tmp_path / "08_reporting" / "enrichment_report.json").iterdir())) == 1


def test_enriched_terms_survive_tfidf_tokenisation(tmp_path: Path) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    catalog = _catalog(_project_params(tmp_path), KB_TTL, tmp_path)
    SequentialRunner().run(create_pipeline(), catalog)
    enriched = catalog["artists_enriched"].load()
    vocabulary = set(TfidfVectorizer().fit(enriched["biography_enriched"]).vocabulary_)
    assert {
        "dbr_mara_quill",
        "dbo_genre__dbr_jazz",
        "dbc_jazz_record_labels",
        "dbr_ac_dc",
        "dbr_free_jazz",
        "dbo_stylisticorigin__dbr_jazz",
    } <= vocabulary


def test_missing_knowledge_base_fails_clearly(tmp_path: Path) -> None:
    catalog = _catalog(
        _project_params(tmp_path), tmp_path / "nowhere" / "knowledge_base.ttl", tmp_path
    )
    with pytest.raises(FileNotFoundError, match="embedded knowledge base is configured"):
        SequentialRunner().run(create_pipeline(), catalog)


def test_catalog_entries_and_credentials_override(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    (conf / "local").mkdir(parents=True)
    shutil.copytree(PROJECT / "conf" / "base", conf / "base")
    loader = _config(conf, tmp_path / "data")
    entries = loader["catalog"]
    assert entries["enrichment_report"]["versioned"] is True
    assert entries["enrichment_report"]["filepath"].endswith("/08_reporting/enrichment_report.json")
    assert entries["artists_enriched"]["type"] == "coldstart.datasets.AtomicParquetDataset"
    assert "key" not in str(loader["parameters"]["semantic_enrichment"]["linker"])

    # the default: no credentials file at all, the secret is unset
    catalog = DataCatalog.from_config({"babelfy_credentials": entries["babelfy_credentials"]})
    assert not catalog["babelfy_credentials"].load()

    # Babelfy: the key in conf/local/credentials.yml, the entry overridden in conf/local
    example = (PROJECT / "conf" / "local" / "credentials.yml.example").read_text()
    (conf / "local" / "credentials.yml").write_text(example.replace("<your-babelfy-key>", "K-42"))
    (conf / "local" / "catalog.yml").write_text(
        "babelfy_credentials:\n  type: coldstart.enrichment.SecretDataset\n  credentials: babelfy\n"
    )
    loader = _config(conf, tmp_path / "data")
    catalog = DataCatalog.from_config(
        {"babelfy_credentials": loader["catalog"]["babelfy_credentials"]},
        credentials=loader["credentials"],
    )
    secret = catalog["babelfy_credentials"].load()
    assert secret.reveal() == "K-42" and "K-42" not in repr(catalog["babelfy_credentials"])

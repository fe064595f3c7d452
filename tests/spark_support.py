"""Shared pieces of the Spark backend tests: a local session and the ingested tiny world.

Import the fixtures into a test module (``from spark_support import ...``). Every
module gets its own SparkSession (``local[2]``), stopped at the module's end, so the
loopback-cluster module can connect one of its own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import scipy.sparse as sp

pytest.importorskip("pyspark")
if shutil.which("java") is None:  # pragma: no cover - .ci/run installs it
    pytest.skip("the Spark tests need Java 17 (`java` on the PATH)", allow_module_level=True)

LOCAL_SETTINGS = {
    "spark.master": "local[2]",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
}


def stop_active_session() -> None:
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


@pytest.fixture(scope="module")
def spark():
    """A ``local[2]`` SparkSession for one test module."""
    from coldstart.spark.session import start_session

    stop_active_session()
    session = start_session(LOCAL_SETTINGS)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def tiny_ingested(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny world (``--env=test``) generated and ingested in a temporary root.

    Returns the paths and the ingestion outputs the backends read: ``songs``,
    ``artists``, ``users``, ``song_plays``, ``artist_plays``.
    """
    from kedro_runs import run_session

    root = tmp_path_factory.mktemp("spark_tiny")
    params = {
        "dataset_dir": str(root / "raw"),
        "generate_world": True,  # a temporary folder: generated only when asked
        "data_root": str(root / "data"),
        "mlflow_tracking_uri": f"sqlite:///{root / 'mlruns.db'}",
        "mlflow_artifact_location": str(root / "mlartifacts"),
    }
    run_session(params, pipeline_name="world")
    run_session(params, pipeline_name="ingestion")
    data = Path(params["data_root"])
    return {
        "root": root,
        "params": params,
        "songs": pd.read_parquet(data / "02_intermediate" / "songs.parquet"),
        "artists": pd.read_parquet(data / "02_intermediate" / "artists.parquet"),
        "users": pd.read_parquet(data / "02_intermediate" / "users.parquet"),
        "song_plays": sp.load_npz(data / "03_primary" / "song_plays.npz").tocsr(),
        "artist_plays": sp.load_npz(data / "03_primary" / "artist_plays.npz").tocsr(),
    }


def upper_bound_map(user_factors, item_factors, plays, items: pd.DataFrame) -> float:
    """MAP@500 of the upper-bound row: the test items' own folded-in factors."""
    from coldstart.metrics import evaluate_factors
    from coldstart.pipelines.evaluation.nodes import split_test_plays, upper_bound_test_factors

    test_plays, evaluated = split_test_plays(plays, items)
    result = evaluate_factors(
        user_factors, upper_bound_test_factors(item_factors, items), test_plays, users=evaluated
    )
    return float(result.summary()["map_at_500"])


def as_triplet_folder(plays, folder: Path, n_parts: int = 4) -> Path:
    """``plays`` written as ingestion writes it for Spark (partitioned Parquet triplets)."""
    from coldstart.datasets import PartitionedParquetDataset
    from coldstart.pipelines.ingestion.nodes import play_triplets_table

    PartitionedParquetDataset(str(folder), n_parts=n_parts).save(play_triplets_table(plays))
    return folder


CONF = Path(__file__).resolve().parents[1] / "conf"


def wmf_parameters() -> dict:
    """``factorization.wmf`` as ``conf/base`` writes it (k = 200)."""
    import yaml

    text = (CONF / "base" / "parameters_factorization.yml").read_text()
    wmf = dict(yaml.safe_load(text)["factorization"]["wmf"])
    wmf["show_progress"] = False
    return wmf


def world_tracks(tiny_ingested: dict, n_songs: int) -> list[tuple[str, Path]]:
    """``(track_id, audio file)`` of the first ``n_songs`` songs of the ingested tiny world."""
    raw = Path(tiny_ingested["params"]["dataset_dir"])
    songs = tiny_ingested["songs"].head(n_songs)
    return [(t, raw / p) for t, p in zip(songs["track_id"], songs["audio_path"], strict=True)]


def cqt_config():
    """The CQT settings of ``conf/base``."""
    import yaml

    from coldstart.audio.features import CQTConfig

    params = yaml.safe_load((CONF / "base" / "parameters_audio.yml").read_text())
    return CQTConfig.from_params(params["audio_features"])

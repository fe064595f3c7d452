"""The Spark environment switches the backends and nothing else; local runs never start Spark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from waits import scaled

CONF = Path(__file__).resolve().parents[1] / "conf"
SRC = Path(__file__).resolve().parents[1] / "src"
SPARK_BLOCKS = {
    "parameters_factorization.yml": "factorization",
    "parameters_evaluation.yml": "evaluation",
    "parameters_audio.yml": "audio_features",
}


def _block(env: str, file: str, key: str) -> dict:
    return yaml.safe_load((CONF / env / file).read_text())[key]


@pytest.mark.parametrize("file", SPARK_BLOCKS)
def test_spark_env_blocks_are_base_blocks_with_the_spark_backend(file: str) -> None:
    key = SPARK_BLOCKS[file]
    base, spark = _block("base", file, key), _block("spark", file, key)
    assert spark["backend"] == "spark"
    assert base["backend"] in ("implicit", "local")
    assert {k: v for k, v in spark.items() if k != "backend"} == {
        k: v for k, v in base.items() if k != "backend"
    }


def test_only_the_spark_env_asks_for_spark() -> None:
    from coldstart.spark.session import spark_requested

    base = {key: _block("base", file, key) for file, key in SPARK_BLOCKS.items()}
    assert not spark_requested(base)
    assert spark_requested(
        {**base, "evaluation": _block("spark", "parameters_evaluation.yml", "evaluation")}
    )
    settings = yaml.safe_load((CONF / "spark" / "spark.yml").read_text())
    assert settings["spark.master"] == "local[*]"
    assert not (CONF / "base" / "spark.yml").exists()


def test_local_runs_never_import_pyspark() -> None:
    """Settings, hooks and every pipeline of the default configuration, without pyspark."""
    code = (
        "import sys\n"
        "from coldstart.spark.session import SparkHooks\n"
        "import coldstart.settings\n"
        "from coldstart.pipeline_registry import register_pipelines\n"
        "register_pipelines()\n"
        "class Loader(dict): pass\n"
        "class Context: config_loader = Loader(parameters={'factorization': {'backend': 'implicit'}})\n"
        "SparkHooks().after_context_created(Context())\n"
        "assert not [m for m in sys.modules if m.startswith(('pyspark', 'py4j'))], 'pyspark imported'\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        timeout=scaled(600),
    )


def test_the_spark_backend_wires_the_parquet_triplets_into_factorization() -> None:
    from coldstart import rows
    from coldstart.pipelines.factorization.pipeline import create_pipeline as factorization
    from coldstart.pipelines.ingestion.pipeline import create_pipeline as ingestion
    from coldstart.rows import load_base_parameters, use_session_parameters

    before = rows._session_parameters  # an earlier in-process session's, restored below
    base = dict(load_base_parameters())
    local_inputs = factorization().inputs()
    try:
        use_session_parameters(
            {
                **base,
                "factorization": _block("spark", "parameters_factorization.yml", "factorization"),
            }
        )
        spark_factorization, spark_ingestion = factorization(), ingestion()
    finally:
        use_session_parameters(before)
    assert "song_plays" in local_inputs and "song_play_triplets@spark" not in local_inputs
    assert {
        "song_play_triplets@spark",
        "artist_play_triplets@spark",
    } <= spark_factorization.inputs()
    assert spark_factorization.outputs() == factorization().outputs()
    written = spark_ingestion.all_outputs()
    assert {"song_play_triplets@pandas", "artist_play_triplets@pandas"} <= written
    assert "song_play_triplets@pandas" not in ingestion().all_outputs()


def test_the_driver_settings_fit_msd_a_at_both_levels() -> None:
    """conf/spark/spark.yml holds the factors of MSD-A's two levels at once (docs/spark.md)."""
    from coldstart.spark.sizing import (
        MSD_A,
        driver_heap_bytes,
        jvm_bytes,
        largest_result_bytes,
        level_driver_bytes,
    )

    settings = yaml.safe_load((CONF / "spark" / "spark.yml").read_text())
    k = _block("spark", "parameters_factorization.yml", "factorization")["wmf"]["factors"]
    assert k == 200
    users = MSD_A["users"]
    held = sum(level_driver_bytes(users, MSD_A[level], k) for level in ("songs", "artists"))
    fraction = float(settings.get("spark.memory.fraction", 0.6))
    assert jvm_bytes(settings["spark.driver.memory"]) >= driver_heap_bytes(held, fraction)
    assert jvm_bytes(settings["spark.driver.maxResultSize"]) >= largest_result_bytes(users, k)
    assert jvm_bytes(settings["spark.driver.maxResultSize"]) < jvm_bytes(
        settings["spark.driver.memory"]
    )


def test_driver_sizes_are_the_documented_arithmetic() -> None:
    from coldstart.spark.sizing import (
        MSD_A,
        driver_heap_bytes,
        driver_memory_warnings,
        jvm_bytes,
        level_driver_bytes,
    )

    # docs/spark.md's worked figure: (2 x 1,000,000 + 328,821) rows of 4 x 200 + 192 bytes
    assert level_driver_bytes(MSD_A["users"], MSD_A["songs"], 200) == 2_310_190_432
    assert level_driver_bytes(MSD_A["users"], MSD_A["artists"], 200) == 2_007_850_656
    assert driver_heap_bytes(4 * 2**30) == 300 * 2**20 + 10 * 2**30
    assert jvm_bytes("512m") == 2**29 and jvm_bytes("10g") == 10 * 2**30
    assert jvm_bytes("2G") == jvm_bytes("2gb") == 2 * 2**30
    with pytest.raises(ValueError, match="with a unit"):
        jvm_bytes("4096")
    msd_a_songs = (MSD_A["users"], MSD_A["songs"], 200)
    old = driver_memory_warnings("4g", "1g", *msd_a_songs)  # the earlier setting
    assert len(old) == 1 and old[0].startswith("spark.driver.memory is 4g")
    assert len(driver_memory_warnings("4g", "512m", *msd_a_songs)) == 2
    assert driver_memory_warnings("6g", "2g", *msd_a_songs) == []
    assert driver_memory_warnings("6g", "0", *msd_a_songs) == []  # 0: no limit
    assert driver_memory_warnings("1g", "1g", 300, 1500, 200) == []  # the tiny world

"""Partial runs (``kedro run --pipelines=...``) on a dataset in the raw contract.

Real data may come without previews: no ``audio/`` folder at all. Ingestion reads
that as "no audio", so the missing-inputs check must let it through, while an
input a run cannot do without still stops it, naming the dataset, where it was
looked for and the pipeline that makes it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from kedro_runs import isolated_outputs, run_session


@pytest.fixture(scope="module")
def real_without_audio(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny world turned into "real data": no manifest, no ``audio/`` folder."""
    from coldstart.world import generate_world

    root = tmp_path_factory.mktemp("no_audio")
    raw = root / "raw"
    generate_world(raw, {"preset": "tiny", "seed": 7, "audio": False, "releases": False})
    shutil.rmtree(raw / "audio")
    (raw / "world_manifest.json").unlink()
    return {"dataset_dir": str(raw), **isolated_outputs(root)}


def _latest(folder: Path) -> Path:
    """The newest version of a versioned dataset ``folder``."""
    return sorted(p for p in folder.iterdir() if p.is_dir())[-1] / folder.name


@pytest.mark.slow
def test_ingestion_then_factorization_run_without_an_audio_folder(
    real_without_audio: dict,
) -> None:
    params = real_without_audio
    raw, data = Path(params["dataset_dir"]), Path(params["data_root"])
    run_session(params, "world")  # real data: left as it is, no audio folder and all
    run_session(params, "ingestion")
    report = json.loads(_latest(data / "08_reporting" / "ingestion_report.json").read_text())
    tracks = report["track_metadata"]
    assert tracks["tracks_read"] > 0
    assert tracks["tracks_with_audio"] == 0 and tracks["audio_files_found"] == 0
    run_session(params, "factorization")
    for name in ("song_user_factors", "song_item_factors", "artist_item_factors"):
        assert (_latest(data / "04_feature" / f"{name}.npy")).stat().st_size > 0
    assert not (raw / "audio").exists()  # nothing was made up in the user's folder


@pytest.mark.slow
def test_a_missing_required_input_names_the_dataset_its_path_and_its_maker(
    real_without_audio: dict, tmp_path: Path
) -> None:
    from coldstart.hooks import MissingInputsError

    raw = tmp_path / "raw"
    shutil.copytree(
        real_without_audio["dataset_dir"], raw, ignore=shutil.ignore_patterns("artist_tags.tsv")
    )
    params = {"dataset_dir": str(raw), **isolated_outputs(tmp_path)}
    with pytest.raises(MissingInputsError) as error:
        run_session(params, "ingestion")
    message = str(error.value)
    assert f"raw_tags at {raw / 'artist_tags.tsv'}  (made by: world)" in message
    assert "raw_audio_dir" not in message  # optional for ingestion
    assert "Make them with `kedro run --pipelines=world`" in message
    assert not (Path(params["data_root"]) / "02_intermediate").exists()  # no node ran


def test_an_optional_input_is_required_by_a_node_tagged_as_needing_it(tmp_path: Path) -> None:
    """The audio folder is optional for ingestion, not for the spectrogram extraction."""
    from kedro.io import DataCatalog

    from coldstart.datasets import RawPathDataset
    from coldstart.hooks import _is_missing
    from coldstart.pipelines.audio.pipeline import features_pipeline
    from coldstart.pipelines.ingestion.pipeline import create_pipeline as ingestion

    folder = tmp_path / "audio"
    catalog = DataCatalog({"raw_audio_dir": RawPathDataset(str(folder), optional=True)})
    assert (
        "raw_audio_dir" in ingestion().inputs() and "raw_audio_dir" in features_pipeline().inputs()
    )
    assert not _is_missing("raw_audio_dir", catalog, ingestion())
    assert _is_missing("raw_audio_dir", catalog, features_pipeline())
    folder.mkdir()
    assert not _is_missing("raw_audio_dir", catalog, features_pipeline())
    # without the catalog's `optional`, a missing folder is missing for every node
    strict = DataCatalog({"raw_audio_dir": RawPathDataset(str(tmp_path / "none"))})
    assert _is_missing("raw_audio_dir", strict, ingestion())

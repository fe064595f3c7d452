"""New releases end to end on the tiny world: the pipeline, its quality, the served model.

Uses the session's ``tiny_run`` (conftest.py): the default run trains every row,
bundles the release model, places the world's ``releases/`` folder and registers
the MLflow model ``coldstart-releases``; these tests read what it wrote, start a
real ``mlflow models serve`` process on a free loopback port, and stop it.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from waits import scaled

from coldstart.releases.bundle import read_bundle
from coldstart.releases.items import RequestLimits
from coldstart.releases.predict import factor_matrix, predict_releases

pytestmark = pytest.mark.slow


def _latest(path: Path) -> Path:
    """The newest version of a versioned dataset file."""
    return sorted(path.iterdir())[-1] / path.name


def _first(path: Path) -> Path:
    """The oldest version: the one the training run (``tiny_run``) wrote."""
    return sorted(path.iterdir())[0] / path.name


@pytest.fixture(scope="module")
def release_run(tiny_run: dict) -> dict:
    data = Path(tiny_run["params"]["data_root"])
    raw = Path(tiny_run["params"]["dataset_dir"])
    truth = pd.read_csv(raw / "releases" / "truth" / "items.tsv", sep="\t", dtype=str)
    return {
        **tiny_run,
        "data": data,
        "raw": raw,
        "truth_items": truth,
        "factors": pd.read_parquet(
            _first(data / "07_model_output/releases/release_factors.parquet")
        ),
        "model": read_bundle(data / "06_models" / "release_model"),
    }


#: What each release case of the world gives the model (a catalogue artist has every A').
CASE_CONTENT = {
    "complete": {"biography", "tags", "audio"},
    "existing_artist": {"biography", "tags", "audio"},
    "biography_only": {"biography"},
    "tags_only": {"tags"},
    "audio_only": {"audio"},
}


def _expected_row(model, level: str, content: set[str]) -> str | None:
    """The first row of the release model's ranking whose inputs ``content`` provides."""
    return next((ns for ns in model.ranking[level] if model.rows[ns]["requires"] <= content), None)


def _expected_known_artist_row(model, content: set[str]) -> str | None:
    """A catalogue artist's new track: the first Table 3 row of ``known_track`` that applies
    (the catalogue mean always does here; a twin row when ``content`` meets it)."""
    for ns in model.ranking.get("known_track", []):
        spec = model.rows[ns]
        if spec["kind"] == "catalogue_mean":
            return ns
        if spec["requires"] <= content:
            return spec["serves_with"]
    return _expected_row(model, "track", content)


def test_every_case_is_served_from_the_content_it_has(release_run: dict) -> None:
    factors, model, truth = release_run["factors"], release_run["model"], release_run["truth_items"]
    tracks = factors[factors["level"] == "track"].set_index("track_id")
    artists = factors[factors["level"] == "artist"].set_index("artist_id")
    assert set(tracks.index) == set(truth["track_id"])  # every release track is served
    for case, group in truth.groupby("case"):
        served = set(tracks.loc[group["track_id"].unique(), "model"])
        if case == "existing_artist":  # Table 3's best row (docs/releases.md)
            assert served == {_expected_known_artist_row(model, CASE_CONTENT[case])}, case
        else:
            assert served == {_expected_row(model, "track", CASE_CONTENT[case])}, case
    by_case = truth.drop_duplicates("artist_id").set_index("artist_id")["case"]
    for artist_id, row in artists.iterrows():
        content = CASE_CONTENT[by_case[artist_id]] - {"audio"}
        assert row["model"] == _expected_row(model, "artist", content), artist_id
    # every new artist with text gets artist factors; audio-only and catalogue artists none
    with_text = by_case[by_case.isin(["complete", "biography_only", "tags_only"])].index
    assert set(artists.index) == set(with_text)
    report = json.loads(
        _first(release_run["data"] / "08_reporting/releases_report.json").read_text()
    )
    assert sum(e["n"] for e in report["predicted"]["by_model"]) == len(factors)


def test_top_n_tables_rank_every_user(release_run: dict) -> None:
    out = release_run["data"] / "07_model_output/releases"
    user_tracks = pd.read_parquet(_first(out / "user_top_tracks.parquet"))
    audiences = pd.read_parquet(_first(out / "item_audiences.parquet"))
    model, factors = release_run["model"], release_run["factors"]
    n_tracks = int((factors["level"] == "track").sum())
    assert user_tracks.groupby("user_id").size().eq(min(50, n_tracks)).all()
    assert user_tracks["user_id"].nunique() == len(model.user_ids)
    # the first recommendation of a user is the argmax of its scores
    part, matrix = factor_matrix(factors, "track")
    user = model.user_ids[3]
    scores = matrix @ model.user_factors["track"][3]
    first = user_tracks[(user_tracks["user_id"] == user) & (user_tracks["rank"] == 1)]
    assert first["item_id"].item() == part["item_id"].iloc[int(np.argmax(scores))]
    assert set(audiences["item_id"]) == set(factors["item_id"])


def test_release_quality_beats_random(release_run: dict) -> None:
    quality = json.loads(
        _first(release_run["data"] / "08_reporting/releases_quality.json").read_text()
    )
    assert quality["scored"]
    for level in ("artist", "track"):
        entry = quality["levels"][level]
        assert entry["model"]["map_at_500"] > entry["random"]["map_at_500"], level
        assert entry["model"]["n_active_users"] > 0


def test_release_factors_equal_the_row_models_predictions(release_run: dict) -> None:
    """Test artists and songs of the catalogue, fed in as new, get the rows' own predictions."""
    data, raw, model = release_run["data"], release_run["raw"], release_run["model"]
    artists = pd.read_parquet(data / "02_intermediate/artists.parquet")
    songs = pd.read_parquet(data / "02_intermediate/songs.parquet")
    tags = pd.read_parquet(data / "02_intermediate/artist_tags.parquet")
    test_artists = artists[artists["split"] == "test"].sort_values("item_idx")
    tag_text = tags.groupby("artist_id").apply(
        lambda g: "; ".join(f"{t}:{w:g}" for t, w in zip(g["tag"], g["weight"], strict=True)),
        include_groups=False,
    )
    test_songs = songs[(songs["split"] == "test") & (songs["audio_path"] != "")].sort_values(
        "item_idx"
    )
    items = pd.DataFrame(
        {
            "artist_id": "NEW" + test_songs["artist_id"],
            "artist_name": "",
            "biography": test_songs["artist_id"].map(artists.set_index("artist_id")["biography"]),
            "tags": test_songs["artist_id"].map(tag_text).fillna(""),
            "track_id": test_songs["track_id"],
            "song_id": test_songs["song_id"],
            "title": "",
            "audio_path": [str(raw / p) for p in test_songs["audio_path"]],
            "audio_base64": "",
        }
    )
    # a request whose audio files lie in a root the operator allows
    rules = (RequestLimits(), (str(raw),))
    predictions, _ = predict_releases(model, items, strict=True, rules=rules)
    # artist level: the persisted test predictions of the row that served each artist
    artist_part = predictions[predictions["level"] == "artist"]
    assert len(artist_part) == test_songs["artist_id"].nunique()
    position = {a: i for i, a in enumerate(test_artists["artist_id"])}
    for ns, group in artist_part.groupby("model"):
        expected = np.load(_first(data / f"07_model_output/{ns}/test_item_factors.npy"))
        rows = [position[a[3:]] for a in group["artist_id"]]
        np.testing.assert_allclose(np.stack(group["factors"]), expected[rows], atol=2e-5)
    # track level: the serving row's persisted predictions for the same test songs
    track_part = predictions[predictions["level"] == "track"]
    assert len(track_part) == len(test_songs)
    all_test = songs[songs["split"] == "test"].sort_values("item_idx")
    song_position = {t: i for i, t in enumerate(all_test["track_id"])}
    for ns, group in track_part.groupby("model"):
        expected = np.load(_first(data / f"07_model_output/{ns}/test_item_factors.npy"))
        rows = [song_position[t] for t in group["track_id"]]
        np.testing.assert_allclose(np.stack(group["factors"]), expected[rows], atol=2e-4)


def test_audio_no_served_row_reads_is_checked_but_never_analysed(
    release_run: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text and audio: the CQT and the audio network run only when the serving row reads audio."""
    import dataclasses
    import io

    import soundfile as sf

    from coldstart.audio import features
    from coldstart.releases.items import ReleaseInputError, request_rules, validate_request

    model = release_run["model"]
    on_text = [ns for ns in model.ranking["track"] if "audio" not in model.rows[ns]["requires"]]
    on_audio = [ns for ns in model.ranking["track"] if "audio" in model.rows[ns]["requires"]]
    assert on_text and on_audio, model.ranking
    calls: list[int] = []
    real_cqt = features.compute_log_cqt
    monkeypatch.setattr(
        features, "compute_log_cqt", lambda y, config: calls.append(len(y)) or real_cqt(y, config)
    )
    truth_row, audio = _audio_of(release_run, "complete")
    items = pd.read_parquet(_first(release_run["data"] / "05_model_input/release_items.parquet"))
    content = items.set_index("track_id").loc[truth_row["track_id"]]
    rules = request_rules(model.settings)

    def predict(ranking: list[str], audio_bytes: bytes) -> pd.DataFrame:
        reranked = dataclasses.replace(model, ranking={**model.ranking, "track": ranking})
        item = {
            "artist_id": "ARNEWBOTH",
            "biography": content["biography"],
            "tags": content["tags"],
            "track_id": "TRNEWBOTH",
            "audio_base64": base64.b64encode(audio_bytes).decode(),
        }
        table = validate_request(pd.DataFrame([item]), *rules)
        predictions, _ = predict_releases(reranked, table, strict=True, rules=rules)
        return predictions[predictions["level"] == "track"].iloc[0]

    track = predict(on_text + on_audio, audio.read_bytes())
    assert track["model"] == on_text[0] and calls == []
    assert "audio" in track["content"].split("+")  # decoded and usable, just not read
    track = predict(on_audio + on_text, audio.read_bytes())
    assert track["model"] == on_audio[0] and len(calls) == 1
    # audio no row reads is still decoded and checked: silence is refused as before
    silence = io.BytesIO()
    sf.write(silence, np.zeros(22050 * 5, np.float32), 22050, format="WAV")
    with pytest.raises(ReleaseInputError, match=r"items\[0\]\.audio_base64: silent audio"):
        predict(on_text + on_audio, silence.getvalue())
    assert len(calls) == 1


def test_the_training_run_registers_the_release_model(release_run: dict) -> None:
    import mlflow

    from coldstart.releases.items import COLUMNS

    client = mlflow.MlflowClient(tracking_uri=release_run["params"]["mlflow_tracking_uri"])
    versions = client.search_model_versions("name='coldstart-releases'")
    assert len(versions) == 1
    run = client.get_run(versions[0].run_id)
    assert "mlflow.parentRunId" not in run.data.tags  # the kedro run's own run
    metrics = run.data.metrics
    assert metrics["releases.track_map_at_500"] > metrics["releases.track_random_map_at_500"]
    assert {"releases.artist_map_at_500", "releases.track_recall_at_50"} <= set(metrics)
    # the first version of a world passes the gate (above random, no champion yet)
    champion = client.get_model_version_by_alias("coldstart-releases", "champion")
    assert champion.version == versions[0].version
    assert champion.tags["coldstart.gate"].startswith("promoted: ")
    quality = json.loads(champion.tags["coldstart.release_quality"])
    assert quality["levels"]["track"]["map"] == pytest.approx(metrics["releases.track_map_at_500"])
    for name in COLUMNS:  # the description lists every request field and the limits
        assert f"- {name}: " in champion.description
    assert "- max_biography_chars: " in champion.description


def test_the_gate_moves_the_alias_only_for_a_version_at_least_as_good(
    release_run: dict, tmp_path: Path
) -> None:
    """Three registrations on one world into a fresh registry: better, worse, random-level."""
    import mlflow

    from coldstart.datasets import MlflowReleaseModelDataset
    from coldstart.releases.registry import ReleaseRegistration

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'gate.db'}")
    experiment = mlflow.create_experiment("gate", artifact_location=str(tmp_path / "artifacts"))
    dataset = MlflowReleaseModelDataset(
        save_args={"name": "release_model", "registered_model_name": "gate-test"}
    )

    def register(track: float, random: float = 0.01) -> str:
        quality = {"k": 500, "levels": {"track": {"map": track, "random_map": random}}}
        with mlflow.start_run(experiment_id=experiment):
            dataset.save(ReleaseRegistration(release_run["model"], "test", quality, "world-1", {}))
        return str(dataset.model_info.registered_model_version)

    def champion() -> str:
        return str(client.get_model_version_by_alias("gate-test", "champion").version)

    try:
        client = mlflow.MlflowClient()
        first = register(0.30)
        assert champion() == first
        worse = register(0.25)
        assert champion() == first
        assert (
            "below version" in client.get_model_version("gate-test", worse).tags["coldstart.gate"]
        )
        at_random = register(0.40, random=0.40)
        assert champion() == first
        assert (
            "not above random"
            in client.get_model_version("gate-test", at_random).tags["coldstart.gate"]
        )
        better = register(0.31)
        assert champion() == better
    finally:
        mlflow.set_tracking_uri(None)


# --------------------------------------------------------------------------- serving


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(port: int, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=scaled(300)) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _records(*items: dict) -> bytes:
    return json.dumps({"dataframe_records": list(items)}).encode()


@pytest.fixture(scope="module")
def server(release_run: dict):
    port = _free_port()
    bin_dir = Path(sys.executable).parent  # `mlflow models serve` runs `uvicorn` from the PATH
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": release_run["params"]["mlflow_tracking_uri"],
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",  # as `make serve`
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = open(release_run["root"] / "serve.log", "wb")
    process = subprocess.Popen(
        [
            str(bin_dir / "mlflow"),
            "models",
            "serve",
            "-m",
            "models:/coldstart-releases@champion",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=release_run["root"],
    )
    try:
        deadline = time.monotonic() + scaled(900)
        while True:
            if process.poll() is not None:
                raise RuntimeError((release_run["root"] / "serve.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"mlflow models serve did not answer /ping in {scaled(900):.0f} s"
                )
            time.sleep(1.0)
        yield {"port": port, "process": process}
    finally:
        process.terminate()
        try:
            process.wait(timeout=scaled(120))
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _audio_of(release_run: dict, case: str) -> tuple[dict, Path]:
    truth = release_run["truth_items"]
    row = truth[(truth["case"] == case) & (truth["has_audio"].astype(int) == 1)].iloc[0]
    folder = release_run["raw"] / "releases" / "audio"
    return row.to_dict(), next(folder.glob(f"{row['track_id']}.*"))


def test_served_model_answers_each_modality(server: dict, release_run: dict) -> None:
    port = server["port"]
    truth_row, audio = _audio_of(release_run, "complete")
    items = pd.read_parquet(_first(release_run["data"] / "05_model_input/release_items.parquet"))
    content = items.set_index("track_id").loc[truth_row["track_id"]]
    full = {
        "artist_id": content["artist_id"],
        "biography": content["biography"],
        "tags": content["tags"],
        "track_id": truth_row["track_id"],
        "audio_base64": base64.b64encode(audio.read_bytes()).decode(),
    }
    status, answer = _post(port, _records(full))
    assert status == 200, answer
    predictions = pd.DataFrame(answer["predictions"])
    track = predictions[predictions["level"] == "track"].iloc[0]
    model = release_run["model"]
    assert track["model"] == _expected_row(model, "track", {"biography", "tags", "audio"})
    assert len(track["factors"]) == 200 and len(track["top_users"]) == 100
    # the same item through the pipeline got the same factors
    pipeline = release_run["factors"].set_index("item_id").loc[truth_row["track_id"]]
    if pipeline["model"] == track["model"]:
        np.testing.assert_allclose(track["factors"], pipeline["factors"], atol=1e-5)

    status, answer = _post(
        port, _records({"artist_id": "ARNEWTEXT", "biography": content["biography"]})
    )
    assert status == 200, answer
    (artist,) = answer["predictions"]
    assert artist["level"] == "artist" and model.rows[artist["model"]]["requires"] == {"biography"}

    _, audio_only = _audio_of(release_run, "audio_only")
    status, answer = _post(
        port,
        _records(
            {
                "artist_id": "ARNEWAUDIO",
                "track_id": "TRNEWAUDIO",
                "audio_base64": base64.b64encode(audio_only.read_bytes()).decode(),
            }
        ),
    )
    assert status == 200, answer
    (track,) = answer["predictions"]
    assert track["model"] == "audio" and track["content"] == "audio"


def _long_silence() -> str:
    """601 s of silent mono FLAC as base64: a few kB whose header is over max_duration_s."""
    import io

    import soundfile as sf

    buffer = io.BytesIO()
    with sf.SoundFile(buffer, "w", 8000, 1, format="FLAC", subtype="PCM_16") as out:
        for _ in range(601):
            out.write(np.zeros(8000, np.float32))
    return base64.b64encode(buffer.getvalue()).decode()


def test_served_model_refuses_bad_requests_and_keeps_serving(
    server: dict, release_run: dict
) -> None:
    port = server["port"]
    bad = [
        (b'{"dataframe_records": [{"artist_id": ', None),
        (
            _records(
                {
                    "artist_id": "AR1",
                    "track_id": "TR1",
                    "audio_base64": base64.b64encode(b"not an mp3 at all" * 50).decode(),
                }
            ),
            "audio_base64",
        ),
        (_records({"artist_id": "ARNOTHING", "track_id": "TRNOTHING"}), "nothing usable"),
        (_records({"artist_id": "AR1", "biography": "text", "mood": "happy"}), "mood"),
        (_records({"artist_id": "ARNOTHING"}), "no biography"),
        # the rules and limits of docs/releases.md (tests/test_release_requests.py in full)
        (_records({"artist_id": "AR1", "biography": ["a", "list"]}), "expected a string"),
        (_records({"artist_id": "AR1", "tags": ["dub", "rock"]}), "items[0].tags: expected"),
        (
            _records(
                {"artist_id": "AR1", "track_id": "TR1", "tags": "dub"},
                {"artist_id": "AR1", "track_id": "TR1", "tags": "dub"},
            ),
            "items[0].track_id and items[1].track_id",
        ),
        (
            _records(*({"artist_id": f"AR{i}", "tags": "dub"} for i in range(101))),
            "max_items=100",
        ),
        (
            _records({"artist_id": "AR1", "track_id": "TR1", "audio_base64": _long_silence()}),
            "items[0].audio_base64: 601.0 s of audio by its header",
        ),
    ]
    for body, fragment in bad:
        status, answer = _post(port, body)
        assert 400 <= status < 500, (status, answer)
        if fragment:
            assert fragment in answer.get("message", ""), answer
    # no root is configured: every audio_path is refused alike, existing or not
    answers = set()
    for path in (
        "/etc/passwd",
        "/no/such/file.mp3",
        "/dev/zero",
        str(_audio_of(release_run, "complete")[1]),
    ):
        status, answer = _post(
            port, _records({"artist_id": "AR1", "track_id": "TR1", "audio_path": path})
        )
        assert status == 400 and "items[0].audio_path: refused" in answer["message"], answer
        # MLflow's scoring server quotes the request's table before the model's message
        answers.add(answer["message"].split("\nError: ", 1)[-1])
    assert len(answers) == 1, answers
    assert server["process"].poll() is None
    status, _ = _post(port, _records({"artist_id": "ARAGAIN", "tags": "dub:100"}))
    assert status == 200


def test_pyfunc_model_equals_the_pipeline(release_run: dict) -> None:
    import mlflow

    mlflow.set_tracking_uri(release_run["params"]["mlflow_tracking_uri"])
    model = mlflow.pyfunc.load_model("models:/coldstart-releases@champion")
    items = pd.read_parquet(_first(release_run["data"] / "05_model_input/release_items.parquet"))
    # a request carries its audio: the served model reads no file unless told a root
    items = items.head(12).assign(
        audio_base64=[
            base64.b64encode(Path(path).read_bytes()).decode() if path else ""
            for path in items.head(12)["audio_path"]
        ],
        audio_path="",
    )
    served = model.predict(items).set_index(["level", "item_id"])
    pipeline = release_run["factors"].set_index(["level", "item_id"])
    common = served.index.intersection(pipeline.index)
    assert len(common) >= 10
    for key in common:
        assert served.loc[key, "model"] == pipeline.loc[key, "model"]
        np.testing.assert_allclose(
            served.loc[key, "factors"], pipeline.loc[key, "factors"], atol=1e-5
        )


def _readme_example() -> str:
    """The README's request example: its ``bash`` block from the first ``curl`` on."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = next(b.split("```", 1)[0] for b in readme.split("```bash\n")[1:] if "/invocations" in b)
    return block[block.index("curl ") :]


def test_readme_example_runs_as_pasted(server: dict, release_run: dict, tmp_path: Path) -> None:
    """The README's commands, verbatim but for the port, from a project-like folder.

    ``data/01_raw/synthetic_default`` there is the tiny world (what ``make run``
    leaves at that place for the default world).
    """
    example = _readme_example()
    assert "127.0.0.1:5001" in example
    raw = tmp_path / "data" / "01_raw"
    raw.mkdir(parents=True)
    (raw / "synthetic_default").symlink_to(release_run["raw"], target_is_directory=True)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", example.replace(":5001/", f":{server['port']}/")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    # curl prints each answer without a newline: read the JSON documents one after the other
    decoder, answers, at = json.JSONDecoder(), [], 0
    while at < len(result.stdout.rstrip()):
        answer, at = decoder.raw_decode(result.stdout, at)
        answers.append(answer)
    assert len(answers) == 2, result.stdout[-2000:]
    (artist,) = answers[0]["predictions"]
    assert artist["level"] == "artist" and artist["content"] == "biography+tags"
    (track,) = answers[1]["predictions"]
    assert track["level"] == "track" and track["content"] == "audio"
    assert len(track["top_users"]) == 100


class _Payload:
    """Unpickling this creates ``marker``: the proof that a planted pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_planted_payloads_never_run_and_are_refused_by_name(
    release_run: dict, tmp_path: Path
) -> None:
    """Every file of the registered version, replaced in turn by a payload, and one added."""
    import pickle
    import shutil

    import mlflow

    mlflow.set_tracking_uri(release_run["params"]["mlflow_tracking_uri"])
    try:
        clean = Path(
            mlflow.artifacts.download_artifacts(
                "models:/coldstart-releases@champion", dst_path=str(tmp_path / "clean")
            )
        )
        mlflow.pyfunc.load_model(str(clean))  # the untouched copy loads
        marker = tmp_path / "payload_ran"
        pickled = pickle.dumps(_Payload(marker))
        yaml_payload = f"!!python/object/apply:builtins.open [{str(marker)!r}, w]\n".encode()
        files = sorted(p.relative_to(clean) for p in clean.rglob("*") if p.is_file())
        assert {"MLmodel", "data/release_model/manifest.json"} <= {f.as_posix() for f in files}
        mlflow_files = {"MLmodel", "conda.yaml", "python_env.yaml", "requirements.txt"}
        # MLflow's own files also get a valid-text change (a comment line appended)
        cases = [(f, pickled) for f in files] + [(Path("MLmodel"), yaml_payload)]
        cases += [(Path(name), None) for name in sorted(mlflow_files)]
        for i, (name, payload) in enumerate(cases):
            if name.as_posix() == "registered_model_meta":
                continue  # written by the download itself, never part of the logged version
            copy = tmp_path / f"case{i}"
            shutil.copytree(clean, copy)
            if payload is None:
                (copy / name).write_bytes((clean / name).read_bytes() + b"\n# planted\n")
            else:
                (copy / name).write_bytes(payload)
            with pytest.raises(Exception) as refused:
                mlflow.pyfunc.load_model(str(copy))
            assert not marker.exists(), f"a payload in {name} ran"
            if name.as_posix() in mlflow_files and isinstance(refused.value, UnicodeDecodeError):
                # MLflow reads MLmodel and requirements.txt itself before any loader runs,
                # and refuses bytes that are not UTF-8 with a bare UnicodeDecodeError
                continue
            assert name.name in str(refused.value), (name, str(refused.value)[:500])
            shutil.rmtree(copy, ignore_errors=True)
        # a pickle added beside the bundle, as a pickled python model would be stored
        copy = tmp_path / "added"
        shutil.copytree(clean, copy)
        (copy / "python_model.pkl").write_bytes(pickled)
        with pytest.raises(Exception, match="python_model.pkl"):
            mlflow.pyfunc.load_model(str(copy))
        assert not marker.exists()
    finally:
        mlflow.set_tracking_uri(None)

"""The MSD-A release: import, checks naming the files, rows skipped, the msd_a env end to end."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import yaml
from msd_a_release import save_npy, save_tartarus_csr, write_release

from coldstart.pipelines.msd_a import nodes
from coldstart.pipelines.msd_a.availability import unavailable_release_rows
from coldstart.pipelines.msd_a.release import ReleaseError
from coldstart.rows import load_base_parameters, with_unavailable_rows_skipped

PROJECT = Path(__file__).resolve().parents[1]
MSD_A = yaml.safe_load((PROJECT / "conf/msd_a/parameters_msd_a.yml").read_text())["msd_a"]
SIZES = {"train": 20, "val": 5, "test": 6}
N_USERS, K = 40, 8


def apk(actual: set, predicted: list, k: int) -> float:
    """Kaggle's ``apk`` (ml_metrics), written out here apart from the project's evaluator."""
    predicted = predicted[:k]
    score, hits = 0.0, 0
    for i, item in enumerate(predicted):
        if item in actual and item not in predicted[:i]:
            hits += 1
            score += hits / (i + 1.0)
    return score / min(len(actual), k) if actual else 0.0


def map_from_files(release: Path, ds: str, k: int = 500) -> float:
    """MAP@k of the upper bound straight from the files: every user, no shared code."""
    with np.load(release / "splits" / f"matrix_test_{ds}.npz") as stored:
        test = sp.csr_matrix(
            (stored["data"], stored["indices"], stored["indptr"]), shape=tuple(stored["shape"])
        )
    items = np.load(release / "splits" / f"y_test_als_200_{ds}.npy").astype(np.float64)
    users = np.load(release / "splits" / f"user_factors_als_200_{ds}.npy").astype(np.float64)
    items = items / np.linalg.norm(items, axis=1, keepdims=True)
    by_user = test.T.tocsr()
    scores = users @ items.T
    aps = []
    for u in range(users.shape[0]):
        actual = set(by_user.indices[by_user.indptr[u] : by_user.indptr[u + 1]].tolist())
        ranked = list(np.argsort(-scores[u], kind="stable"))
        aps.append(apk(actual, ranked, k))
    return float(np.mean(aps))


def _random_release(root: Path, ds: str, rng: np.random.Generator, with_val: bool = True) -> None:
    users = rng.standard_normal((N_USERS, K)).astype(np.float32)
    save_npy(root / "splits" / f"user_factors_als_200_{ds}.npy", users)
    for split, n in SIZES.items():
        if split == "val" and not with_val:
            continue
        ids = "".join(f"{ds[6:8].upper()}{split}{i:04d}\n" for i in range(n))
        (root / "splits").mkdir(parents=True, exist_ok=True)
        (root / "splits" / f"items_index_{split}_{ds}.tsv").write_text(ids)
        save_npy(root / "splits" / f"y_{split}_als_200_{ds}.npy", rng.standard_normal((n, K)))
        features = sp.random(n, 30, density=0.3, format="csr", random_state=int(rng.integers(99)))
        save_tartarus_csr(root / "train_data" / f"X_{split}_bio_{ds}.npz", features)
        save_npy(root / "train_data" / f"X_{split}_a-sem-emb_{ds}.npy", rng.random((n, 12)))
        if split == "test":
            plays = sp.random(n, N_USERS, density=0.2, format="csr", random_state=3)
            plays.data[:] = rng.integers(1, 9, plays.nnz)
            save_tartarus_csr(root / "splits" / f"matrix_test_{ds}.npz", plays)


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """A random release of both levels, in the release's layout (bio and a-sem-emb only)."""
    root = tmp_path / "MSD-A"
    rng = np.random.default_rng(0)
    for ds in MSD_A["datasets"].values():
        _random_release(root, ds, rng)
    return root


def test_import_keeps_the_release_row_order_and_its_matrices(release: Path) -> None:
    artists, factors, users, test_plays, evaluated, report = nodes.import_artist_level(
        str(release), MSD_A, 7
    )
    assert artists["split"].value_counts().to_dict() == SIZES
    assert artists["artist_id"].tolist()[:2] == ["ARtrain0000", "ARtrain0001"]
    splits = release / "splits"
    stacked = np.vstack([np.load(splits / f"y_{s}_als_200_MSD-A-artists.npy") for s in SIZES])
    np.testing.assert_allclose(factors, stacked.astype(np.float32))
    with np.load(splits / "matrix_test_MSD-A-artists.npz") as stored:
        shape = tuple(stored["shape"])
    assert test_plays.shape == (shape[1], shape[0])  # users x test items
    np.testing.assert_array_equal(evaluated, np.arange(N_USERS))  # every user of the release
    assert report["val_carved_from_train"] is False
    features = nodes.release_features(str(release), MSD_A, artists, "artist", "bio")
    assert sp.issparse(features) and features.shape == (sum(SIZES.values()), 30)


def test_upper_bound_is_the_map_computed_from_the_files(release: Path) -> None:
    from coldstart.pipelines.evaluation.nodes import evaluate_row, upper_bound_test_factors

    songs, factors, users, test_plays, evaluated, _ = nodes.import_song_level(
        str(release), MSD_A, 7
    )
    result, _ = evaluate_row(
        users,
        upper_bound_test_factors(factors, songs),
        test_plays,
        evaluated,
        {"row": {"approach": "upper-bound", "table": "song"}},
        {"k": 500, "cutoffs": [500]},
    )
    expected = map_from_files(release, "MSD-A-songs")
    assert result["metrics"]["map_at_500"] == pytest.approx(expected, abs=1e-6)


def test_without_a_val_index_val_is_carved_from_train_with_the_seed(tmp_path: Path) -> None:
    root = tmp_path / "MSD-A"
    _random_release(root, "MSD-A-artists", np.random.default_rng(1), with_val=False)
    first = nodes.import_artist_level(str(root), MSD_A, 7)
    again = nodes.import_artist_level(str(root), MSD_A, 7)
    artists = first[0]
    assert artists.equals(again[0]) and first[5]["val_carved_from_train"] is True
    assert artists["split"].value_counts().to_dict() == {"train": 18, "val": 2, "test": 6}
    val = artists[artists["split"] == "val"]
    assert (val["release_split"] == "train").all()
    train_y = np.load(root / "splits" / "y_train_als_200_MSD-A-artists.npy")
    np.testing.assert_allclose(
        first[1][val["item_idx"]], train_y[val["release_row"]].astype(np.float32)
    )
    features = nodes.release_features(str(root), MSD_A, artists, "artist", "a-sem-emb")
    train_x = np.load(root / "train_data" / "X_train_a-sem-emb_MSD-A-artists.npy")
    np.testing.assert_allclose(features[val["item_idx"]], train_x[val["release_row"]])


def _shorter_factors(root: Path) -> tuple[str, ...]:
    path = root / "splits" / "y_train_als_200_MSD-A-artists.npy"
    save_npy(path, np.load(path)[:-1])
    return (path.name, "items_index_train_MSD-A-artists.tsv")


def _users_by_items_matrix(root: Path) -> tuple[str, ...]:
    path = root / "splits" / "matrix_test_MSD-A-artists.npz"
    with np.load(path) as stored:
        matrix = sp.csr_matrix(
            (stored["data"], stored["indices"], stored["indptr"]), shape=tuple(stored["shape"])
        )
    save_tartarus_csr(path, matrix.T)
    return (path.name, "items_index_test_MSD-A-artists.tsv", "users x items")


def _id_in_two_splits(root: Path) -> tuple[str, ...]:
    path = root / "splits" / "items_index_test_MSD-A-artists.tsv"
    path.write_text("ARtrain0003\n" + path.read_text().split("\n", 1)[1])
    return ("items_index_train_MSD-A-artists.tsv", path.name)


def _factor_widths_differ(root: Path) -> tuple[str, ...]:
    path = root / "splits" / "y_val_als_200_MSD-A-artists.npy"
    save_npy(path, np.load(path)[:, :-1])
    return (path.name, "user_factors_als_200_MSD-A-artists.npy")


def _scipy_format_needed(root: Path) -> tuple[str, ...]:
    path = root / "splits" / "matrix_test_MSD-A-artists.npz"
    np.savez(path, values=np.ones(3))
    return (path.name, "np.savez(data=, indices=, indptr=, shape=)")


def _nan_in_item_factors(root: Path) -> tuple[str, ...]:
    path = root / "splits" / "y_val_als_200_MSD-A-artists.npy"
    factors = np.load(path)
    factors[3, 2] = np.nan
    save_npy(path, factors)
    return (path.name, "NaN or infinity", "row 3, column 2")


def _inf_in_user_factors(root: Path) -> tuple[str, ...]:
    path = root / "splits" / "user_factors_als_200_MSD-A-artists.npy"
    factors = np.load(path)
    factors[0, 0], factors[5, 1] = np.inf, -np.inf
    save_npy(path, factors)
    return (path.name, "2 non-finite values", "row 0, column 0")


def _truncated_test_matrix(root: Path) -> tuple[str, ...]:
    path = root / "splits" / "matrix_test_MSD-A-artists.npz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return (path.name, "truncated or corrupt", "BadZipFile")


def _truncated_factors(root: Path) -> tuple[str, ...]:
    path = root / "splits" / "y_test_als_200_MSD-A-artists.npy"
    path.write_bytes(path.read_bytes()[:-40])
    return (path.name, "truncated or corrupt")


def _nan_play_count(root: Path) -> tuple[str, ...]:
    path = root / "splits" / "matrix_test_MSD-A-artists.npz"
    with np.load(path) as stored:
        arrays = {key: stored[key] for key in stored.files}
    arrays["data"] = arrays["data"].astype(np.float32)
    arrays["data"][1] = np.nan
    np.savez(path, **arrays)
    return (path.name, "array 'data'", "index 1")


@pytest.mark.parametrize(
    "damage",
    [
        _shorter_factors,
        _users_by_items_matrix,
        _id_in_two_splits,
        _factor_widths_differ,
        _scipy_format_needed,
        _nan_in_item_factors,
        _inf_in_user_factors,
        _truncated_test_matrix,
        _truncated_factors,
        _nan_play_count,
    ],
)
def test_a_broken_convention_is_an_error_naming_the_files(release: Path, damage) -> None:
    expected = damage(release)
    with pytest.raises(ReleaseError) as error:
        nodes.import_artist_level(str(release), MSD_A, 7)
    for text in expected:
        assert text in str(error.value)


def test_features_with_too_few_rows_name_both_files(release: Path) -> None:
    artists = nodes.import_artist_level(str(release), MSD_A, 7)[0]
    path = release / "train_data" / "X_test_a-sem-emb_MSD-A-artists.npy"
    save_npy(path, np.load(path)[:-2])
    with pytest.raises(ReleaseError, match="X_test_a-sem-emb_MSD-A-artists.npy has 4 rows but"):
        nodes.release_features(str(release), MSD_A, artists, "artist", "a-sem-emb")


def test_unreadable_or_non_finite_features_stop_naming_the_file_and_array(
    release: Path,
) -> None:
    artists = nodes.import_artist_level(str(release), MSD_A, 7)[0]
    sparse = release / "train_data" / "X_val_bio_MSD-A-artists.npz"
    original = sparse.read_bytes()
    sparse.write_bytes(original[: len(original) - 64])
    with pytest.raises(ReleaseError, match=r"X_val_bio_MSD-A-artists\.npz: .*truncated or corrupt"):
        nodes.release_features(str(release), MSD_A, artists, "artist", "bio")
    # a flipped byte inside a compressed member: the archive opens, one array does not read
    with np.load(io.BytesIO(original)) as stored:
        arrays = {key: stored[key] for key in stored.files}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    damaged = bytearray(buffer.getvalue())
    start = damaged.index(b"indices.npy") + len("indices.npy") + 40
    damaged[start] ^= 0xFF
    sparse.write_bytes(bytes(damaged))
    with pytest.raises(ReleaseError, match=r"X_val_bio_MSD-A-artists\.npz: .*'indices'"):
        nodes.release_features(str(release), MSD_A, artists, "artist", "bio")
    arrays["data"] = arrays["data"].astype(np.float64)
    arrays["data"][0] = np.inf
    np.savez(sparse, **arrays)
    with pytest.raises(ReleaseError, match=r"X_val_bio_MSD-A-artists\.npz: array 'data' holds 1"):
        nodes.release_features(str(release), MSD_A, artists, "artist", "bio")
    dense = release / "train_data" / "X_test_a-sem-emb_MSD-A-artists.npy"
    values = np.load(dense)
    values[2, 4] = np.nan
    save_npy(dense, values)
    with pytest.raises(
        ReleaseError, match=r"X_test_a-sem-emb_MSD-A-artists\.npy: .*row 2, column 4"
    ):
        nodes.release_features(str(release), MSD_A, artists, "artist", "a-sem-emb")


def test_rows_without_their_release_files_are_skipped_naming_the_file(release: Path) -> None:
    parameters = {**load_base_parameters(), "msd_a": MSD_A, "release_dir": str(release)}
    reasons = unavailable_release_rows(parameters)
    # the random release holds bio and a-sem-emb only
    assert "a_text" not in reasons and "text_rf" not in reasons and "sem_emb" not in reasons
    assert (
        reasons["a_sem"].startswith("missing ")
        and "X_train_sem-bio_MSD-A-artists" in (reasons["a_sem"])
    )
    assert "X_train_audio-emb_MSD-A-songs" in reasons["mm_lf_lin"]
    assert "audio previews" in reasons["audio"] and "audio previews" in reasons["mm"]
    for baseline in ("random_artist", "upper_bound_artist", "random_song", "upper_bound_song"):
        assert baseline not in reasons
    decided = with_unavailable_rows_skipped(parameters)
    assert decided["a_sem"]["row"]["enabled"] is False
    assert decided["a_text"]["row"].get("enabled", True) is True


def test_a_release_without_its_song_level_builds_table_1_only(release: Path) -> None:
    from coldstart.pipelines.msd_a.pipeline import create_release_pipeline
    from coldstart.rows import use_session_parameters

    for path in (release / "splits").glob("*MSD-A-songs*"):
        path.unlink()
    parameters = {**load_base_parameters(), "msd_a": MSD_A, "release_dir": str(release)}
    decided = with_unavailable_rows_skipped(parameters)
    for namespace in ("upper_bound_song", "random_song", "sem_emb", "audio"):
        assert "items_index_train_MSD-A-songs.tsv" in decided[namespace]["row"]["skipped"]
    use_session_parameters(decided)
    try:
        names = {node.name for node in create_release_pipeline().nodes}
    finally:
        use_session_parameters(None)
    assert {"import_msd_a_artist_level", "assemble_table1_artist", "a_text.evaluate"} <= names
    assert not {n for n in names if "song" in n or "table2" in n}


def test_a_dataset_without_audio_skips_exactly_the_audio_rows(tmp_path: Path) -> None:
    (tmp_path / "train_triplets.txt").write_text("")
    (tmp_path / "audio").mkdir()
    parameters = {**load_base_parameters(), "dataset_dir": str(tmp_path)}
    decided = with_unavailable_rows_skipped(parameters)
    skipped = {
        ns for ns, b in decided.items() if isinstance(b, dict) and b.get("row", {}).get("skipped")
    }
    fusing_audio = {"mm_lf_lin", "mm_lf_h1", "mm_lf_lin_tags", "dropoutnet_song", "clcrec_song"}
    # Table 3's audio row and the rows reading its T' too (docs/known_artist.md)
    known_audio = {"audio_known", "mm_lf_lin_known", "catalogue_lf_known", "attention_known"}
    assert skipped == {"audio", "mm", *fusing_audio, *known_audio}
    assert "holds no mp3, wav, flac or ogg file" in decided["audio"]["row"]["skipped"]
    (tmp_path / "audio" / "TR1.mp3").write_bytes(b"x")
    assert with_unavailable_rows_skipped(parameters) == parameters


# ---------------------------------------------------------------- end to end (slow)


@pytest.fixture(autouse=True)
def _rows_from_conf_base_afterwards():
    """A session here leaves its rows wired (the msd_a env: the release pipeline); later
    tests that build pipelines without a session must see conf/base's again."""
    from coldstart.rows import use_session_parameters

    yield
    use_session_parameters(None)


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny world of ``--env=test`` (its own configuration, so runs reuse it)."""
    from coldstart.world import generate_world

    folder = tmp_path_factory.mktemp("world") / "raw"
    world = yaml.safe_load((PROJECT / "conf/test/parameters_world.yml").read_text())["world"]
    generate_world(folder, world)
    return folder


@pytest.fixture(scope="module")
def miniature_release(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The miniature release written from the tiny world."""
    root = tmp_path_factory.mktemp("msd_a")
    write_release(tiny_world, root / "MSD-A")
    return root


def _msd_a_conf(root: Path) -> Path:
    """conf/base and conf/msd_a, with the tiny networks of conf/test (a --conf-source)."""
    conf = root / "conf"
    shutil.copytree(PROJECT / "conf" / "base", conf / "base")
    shutil.copytree(PROJECT / "conf" / "msd_a", conf / "msd_a")
    for name in ("parameters_text.yml", "parameters_fusion.yml", "parameters_audio.yml"):
        shutil.copy(PROJECT / "conf" / "test" / name, conf / "msd_a" / name)
    return conf


@pytest.mark.slow
def test_msd_a_environment_runs_the_release_end_to_end(miniature_release: Path) -> None:
    import json

    import pandas as pd
    from kedro_runs import isolated_outputs, run_session

    from coldstart.pipelines.peers.pipeline import TEMPLATES as PEER_TEMPLATES
    from coldstart.rows import load_rows

    root = miniature_release
    params = {"release_dir": str(root / "MSD-A"), **isolated_outputs(root)}
    run_session(params, env="msd_a", conf_source=str(_msd_a_conf(root)))
    reporting = root / "data" / "08_reporting"
    table1 = pd.read_csv(reporting / "table1_artist.csv")
    table2 = pd.read_csv(reporting / "table2_song.csv")
    assert set(table1["approach"]) == {
        "a-text",
        "a-sem",
        "a-tags",
        "text-rf",
        "ridge",
        "random",
        "upper-bound",
    }
    assert {"sem-vsm", "sem-emb", "tags-emb", "mm-lf-lin", "upper-bound"} <= set(table2["approach"])
    assert not {"audio", "mm"} & set(table2["approach"])
    (report_file,) = (reporting / "msd_a_import_report.json").glob("*/msd_a_import_report.json")
    report = json.loads(report_file.read_text())
    # the peer rows (docs/peers.md) have no builder in the release pipeline; cmf and
    # lightfm would need the users' train plays, which the release does not hold
    peers = set(load_rows_of("artist")) | set(load_rows_of("song"))
    peers = {ns for ns in peers if load_rows()[ns]["template"] in PEER_TEMPLATES}
    assert set(report["rows_skipped"]) == {
        "audio",
        "mm",
        "a_w2v",
        "a_w2v_goo",
        "tags_itemknn",
        "a_text_all",
        "a_fusion",  # it reads dropoutnet_tags, a peer row
        *peers,
        *load_rows_of("known"),  # the release holds no known-artist split by track
    }
    assert "train plays" in report["rows_skipped"]["lightfm_tags"]
    for level, table, ds in (("artist", table1, "MSD-A-artists"), ("song", table2, "MSD-A-songs")):
        upper = table.loc[table["approach"] == "upper-bound", "map_at_500"].item()
        # the CSV keeps 6 decimals
        assert upper == pytest.approx(map_from_files(root / "MSD-A", ds), abs=1e-6), level


@pytest.mark.slow
def test_a_world_whose_audio_folder_is_emptied_runs_table_1_end_to_end(
    tiny_world: Path, tmp_path: Path
) -> None:
    import json

    import pandas as pd
    from hardening_support import run_in_process
    from kedro_runs import isolated_outputs

    raw = tmp_path / "raw"
    shutil.copytree(tiny_world, raw)
    shutil.rmtree(raw / "audio")
    (raw / "audio").mkdir()
    params = {"dataset_dir": str(raw), **isolated_outputs(tmp_path)}
    run_in_process(params, pipeline_names=["tables"])
    reporting = tmp_path / "data" / "08_reporting"
    table1 = pd.read_csv(reporting / "table1_artist.csv")
    enabled = [ns for ns, row in load_rows_of("artist").items() if row.get("enabled", True)]
    assert len(table1) == len(enabled)  # every row of Table 1
    table2 = set(pd.read_csv(reporting / "table2_song.csv")["approach"])
    assert {"sem-vsm", "sem-emb", "tags-vsm", "tags-emb", "random", "upper-bound"} == table2
    (report_file,) = (reporting / "ingestion_report.json").glob("*/ingestion_report.json")
    catalogue = json.loads(report_file.read_text())["catalogue"]
    assert catalogue["songs_kept_without_audio"] == catalogue["songs"]


def load_rows_of(table: str) -> dict:
    """The rows of one table as conf/base declares them."""
    from coldstart.rows import load_rows

    return {ns: row for ns, row in load_rows().items() if row["table"] == table}

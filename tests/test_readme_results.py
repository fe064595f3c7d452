"""The README's results are pasted from the reports, between markers."""

from __future__ import annotations

from pathlib import Path

import pytest

from coldstart.readme_results import BEGIN, END, main, with_results


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path, monkeypatch) -> None:
    """Run from an empty folder: the default study paths are relative to the working
    directory, and a checkout that has run a study must not leak into these tests."""
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)


def test_results_replace_only_the_marked_region(tmp_path) -> None:
    reporting = tmp_path / "08_reporting"
    reporting.mkdir()
    for name, text in [
        ("table1_artist.md", "| a | 1 |"),
        ("table2_song.md", "| s | 2 |"),
        ("table3_known_artist.md", "| k | 4 |"),
        ("releases_quality.md", "| r | 3 |"),
    ]:
        (reporting / name).write_text(text + "\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\nold typed numbers\n{END}\noutro\n")
    assert main(["--readme", str(readme), "--reporting", str(reporting), "--check"]) == 1
    assert main(["--readme", str(readme), "--reporting", str(reporting)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{END}\noutro\n")
    assert "old typed numbers" not in text and "| s | 2 |" in text and "| r | 3 |" in text
    assert main(["--readme", str(readme), "--reporting", str(reporting), "--check"]) == 0
    with pytest.raises(ValueError, match="markers"):
        with_results("no markers here", "x")
    (reporting / "table2_song.md").unlink()
    with pytest.raises(FileNotFoundError, match="make run"):
        main(["--readme", str(readme), "--reporting", str(reporting)])


def _placeholder_reports(tmp_path: Path) -> Path:
    """A reporting folder with every report the README block pastes, each a stub."""
    reporting = tmp_path / "08_reporting"
    reporting.mkdir()
    for name in (
        "table1_artist.md",
        "table2_song.md",
        "table3_known_artist.md",
        "releases_quality.md",
    ):
        (reporting / name).write_text("| x |\n")
    return reporting


def test_study_report_and_figure_are_pasted_when_a_study_exists(tmp_path) -> None:
    from coldstart.readme_results import FIGURE, STUDY_BEGIN, STUDY_END

    reporting = _placeholder_reports(tmp_path)
    study = tmp_path / "09_study" / "default"
    readme = tmp_path / "README.md"
    readme.write_text(f"{BEGIN}\n{END}\nmiddle\n{STUDY_BEGIN}\ntyped\n{STUDY_END}\nend\n")
    args = ["--readme", str(readme), "--reporting", str(reporting), "--study", str(study)]
    assert main(args) == 0
    # no study here (a fresh clone): the README's study block is kept, and --check
    # judges the tables alone
    assert "typed" in readme.read_text() and "No multi-seed study" not in readme.read_text()
    assert main([*args, "--check"]) == 0
    readme.write_text(f"{BEGIN}\n{END}\nmiddle\n{STUDY_BEGIN}\n{STUDY_END}\nend\n")
    assert main(args) == 0
    assert "No multi-seed study" in readme.read_text()  # an empty block says how to fill it
    study.mkdir(parents=True)
    (study / "study_report.md").write_text("| claim | 0.01 |\n\n![forest plot](study_forest.png)\n")
    (study / "study_forest.png").write_bytes(b"\x89PNG fake")
    assert main([*args, "--check"]) == 1
    assert main(args) == 0
    text = readme.read_text()
    assert f"![forest plot]({FIGURE.as_posix()})" in text and "| claim | 0.01 |" in text
    assert (tmp_path / FIGURE).read_bytes() == b"\x89PNG fake"
    assert main([*args, "--check"]) == 0
    (study / "study_forest.png").write_bytes(b"\x89PNG changed")
    assert main([*args, "--check"]) == 1


def test_the_peers_study_block_and_its_figure_are_pasted_and_checked(tmp_path) -> None:
    import json

    from coldstart.readme_results import PEERS_BEGIN, PEERS_END, PEERS_FIGURE

    reporting = _placeholder_reports(tmp_path)
    peers = tmp_path / "09_study" / "peers8"
    readme = tmp_path / "README.md"
    readme.write_text(f"{BEGIN}\n{END}\ntext\n{PEERS_BEGIN}\n{PEERS_END}\nend\n")
    args = ["--readme", str(readme), "--reporting", str(reporting)]
    args += ["--study", str(tmp_path / "none"), "--peers-study", str(peers)]
    assert main(args) == 0
    assert "No artist-level peers study" in readme.read_text()
    peers.mkdir(parents=True)
    (peers / "study_beyond.md").write_text("| a-text-all > lightfm-tags | 0.02 | 3 / 0 |\n")
    (peers / "study_rows.md").write_text("| lightfm-tags | 0.25 |\n")
    (peers / "study.json").write_text(json.dumps({"seeds": [1, 2, 3], "level": "artist"}))
    (peers / "study_beyond_forest.png").write_bytes(b"\x89PNG peers")
    assert main([*args, "--check"]) == 1
    assert main(args) == 0
    text = readme.read_text()
    assert "3 seeds (1, 2, 3)" in text and "| a-text-all > lightfm-tags | 0.02 | 3 / 0 |" in text
    assert "| lightfm-tags | 0.25 |" in text and text.endswith(f"{PEERS_END}\nend\n")
    assert (tmp_path / PEERS_FIGURE).read_bytes() == b"\x89PNG peers"
    assert main([*args, "--check"]) == 0
    (peers / "study_beyond.md").write_text("| a-text-all > lightfm-tags | 0.03 | 3 / 0 |\n")
    assert main([*args, "--check"]) == 1


def _clone(root, song_table: str, cpu: str):
    """A clone after its run: ``data/08_reporting`` with the four reports and the
    machine that made them, and a README with empty blocks."""
    import json

    from coldstart.readme_results import STUDY_BEGIN, STUDY_END

    reporting = root / "data" / "08_reporting"
    reporting.mkdir(parents=True)
    (reporting / "table1_artist.md").write_text("| a-tags | 0.2425 |\n")
    (reporting / "table2_song.md").write_text(f"| audio | {song_table} |\n")
    (reporting / "table3_known_artist.md").write_text("| catalogue-mean | 0.3 |\n")
    (reporting / "releases_quality.md").write_text("| artist | all | 0.2282 |\n")
    environment = {
        "cpu": cpu,
        "vector_extensions": ["avx2", "avx512f"],
        "cores": 2,
        "settings": {},
        "versions": {"python": "3.11.7", "tensorflow": "2.21.0"},
    }
    (reporting / "run_environment.json").write_text(json.dumps(environment))
    (root / "README.md").write_text(f"{BEGIN}\n{END}\n{STUDY_BEGIN}\nclaims\n{STUDY_END}\n")
    return root


def test_a_fresh_clone_whose_run_reproduces_the_tables_passes_the_check(
    tmp_path, monkeypatch, capsys
) -> None:
    """The README from run A; a fresh clone (no study folder) reruns on another CPU and
    gets the same tables: --check passes, saying the machine differs."""
    from coldstart.readme_results import SIGNIFICANCE_NOTE

    published = _clone(tmp_path / "a", "0.0974", "CPU A")
    monkeypatch.chdir(published)
    assert main([]) == 0  # `make results`
    text = (published / "README.md").read_text()
    assert "`CPU A` (AVX2, AVX-512), 2 cores; Python 3.11.7, TensorFlow 2.21.0" in text
    assert SIGNIFICANCE_NOTE.strip() in text and "claims" in text
    fresh = _clone(tmp_path / "b", "0.0974", "CPU B")
    (fresh / "README.md").write_text(text)  # the clone's README is the published one
    monkeypatch.chdir(fresh)
    capsys.readouterr()
    assert main(["--check"]) == 0
    out = capsys.readouterr().out
    assert "the tables match" in out and "study block is not checked" in out


def test_the_check_names_the_stale_block_and_only_it(tmp_path, monkeypatch, capsys) -> None:
    """Table 2 moved in the fresh run: --check fails naming Table 2, not Table 1, the
    releases or the machine; a changed study report is named on its own."""
    published = _clone(tmp_path / "a", "0.0974", "CPU A")
    monkeypatch.chdir(published)
    study = published / "data" / "09_study" / "default"
    study.mkdir(parents=True)
    (study / "study_report.md").write_text("| mm-lf-lin > audio | 0.0219 |\n")
    assert main([]) == 0
    assert main(["--check"]) == 0
    (published / "data/08_reporting/table2_song.md").write_text("| audio | 0.1144 |\n")
    capsys.readouterr()
    assert main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "Table 2 (song level)" in err
    assert "Table 1" not in err and "New releases" not in err and "study" not in err
    assert "machine" not in err
    (published / "data/08_reporting/table2_song.md").write_text("| audio | 0.0974 |\n")
    (study / "study_report.md").write_text("| mm-lf-lin > audio | 0.0300 |\n")
    assert main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "the study block" in err and "Table" not in err

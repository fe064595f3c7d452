"""The README's results are pasted from the reports, between markers."""

from __future__ import annotations

import pytest

from coldstart.readme_results import BEGIN, END, main, with_results


def test_results_replace_only_the_marked_region(tmp_path) -> None:
    reporting = tmp_path / "08_reporting"
    reporting.mkdir()
    for name, text in [
        ("table1_artist.md", "| a | 1 |"),
        ("table2_song.md", "| s | 2 |"),
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


def test_study_report_and_figure_are_pasted_when_a_study_exists(tmp_path) -> None:
    from coldstart.readme_results import FIGURE, STUDY_BEGIN, STUDY_END

    reporting = tmp_path / "08_reporting"
    reporting.mkdir()
    for name in ("table1_artist.md", "table2_song.md", "releases_quality.md"):
        (reporting / name).write_text("| x |\n")
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

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

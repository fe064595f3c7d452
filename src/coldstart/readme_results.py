"""Copy the results of the last run into the README (``make results``).

The README's results section is the generated Markdown of ``data/08_reporting``
(the two tables and the release quality), pasted between the markers
``<!-- results:begin -->`` and ``<!-- results:end -->``, never typed by hand.
The multi-seed study's report (``make study``: ``data/09_study/default``) goes
between ``<!-- study:begin -->`` and ``<!-- study:end -->``, its forest plot copied
to ``docs/figures/study_forest.png`` so the README can show it.
``--check`` exits 1 when the README differs from the reports (for CI or review).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coldstart.world.audio import atomic_write_bytes

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
STUDY_BEGIN, STUDY_END = "<!-- study:begin -->", "<!-- study:end -->"
FIGURE = Path("docs/figures/study_forest.png")
SECTIONS = (
    ("Table 1 (artist level)", "table1_artist.md"),
    ("Table 2 (song level)", "table2_song.md"),
    (
        "New releases (the world's `releases/`, scored against its held-out plays)",
        "releases_quality.md",
    ),
)


def results_block(reporting: Path) -> str:
    """The generated Markdown of the reports, one titled block each."""
    parts = []
    for title, name in SECTIONS:
        path = reporting / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `make run` first")
        parts.append(
            f"**{title}** (`{path.as_posix()}`)\n\n{path.read_text(encoding='utf-8').strip()}\n"
        )
    return "\n".join(parts)


def study_block(study: Path) -> str:
    """The study's report with its figure at :data:`FIGURE`, or how to make one."""
    report = study / "study_report.md"
    if not report.is_file():
        return (
            f"No multi-seed study in `{study.as_posix()}` yet: `make study` runs it "
            "(docs/study.md), then `make results` pastes it here.\n"
        )
    text = report.read_text(encoding="utf-8").strip()
    return text.replace("](study_forest.png)", f"]({FIGURE.as_posix()})") + "\n"


def with_results(readme: str, block: str, begin: str = BEGIN, end: str = END) -> str:
    """``readme`` with the text between the markers replaced by ``block``."""
    if begin not in readme or end not in readme:
        raise ValueError(f"README has no {begin} ... {end} markers")
    head, rest = readme.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{block}{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--reporting", type=Path, default=Path("data/08_reporting"))
    parser.add_argument("--study", type=Path, default=Path("data/09_study/default"))
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    args = parser.parse_args(argv)
    readme = args.readme.read_text(encoding="utf-8")
    updated = with_results(readme, results_block(args.reporting))
    if STUDY_BEGIN in readme:
        current = readme.split(STUDY_BEGIN, 1)[1].split(STUDY_END, 1)[0].strip()
        if (args.study / "study_report.md").is_file() or not current:
            updated = with_results(updated, study_block(args.study), STUDY_BEGIN, STUDY_END)
        else:  # a clone without the study keeps the README's block, never a placeholder
            print(f"no study report in {args.study}: the README's study block is kept")
    figure_source = args.study / "study_forest.png"
    figure = args.readme.parent / FIGURE
    if args.check:
        stale_figure = figure_source.is_file() and (
            not figure.is_file() or figure.read_bytes() != figure_source.read_bytes()
        )
        if updated != readme or stale_figure:
            print(f"{args.readme} does not show the results in {args.reporting}", file=sys.stderr)
            return 1
        return 0
    if figure_source.is_file():
        figure.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(figure, figure_source.read_bytes())
    atomic_write_bytes(args.readme, updated.encode("utf-8"))
    print(f"{args.readme}: results copied from {args.reporting}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Copy the results of the last run into the README (``make results``).

The README's single-run block is the generated Markdown of ``data/08_reporting``
(the three tables and the release quality), pasted between the markers
``<!-- results:begin -->`` and ``<!-- results:end -->``, never typed by hand. It
opens with the machine that made the run (CPU, cores, versions: the run's
``run_environment.json``), since a run's third decimal belongs to its machine
(docs/reproducibility.md), and ends with what the per-user significance marks can
and cannot say. The multi-seed study's report (``make study``:
``data/09_study/default``) goes between ``<!-- study:begin -->`` and
``<!-- study:end -->``, its forest plot copied to ``docs/figures/study_forest.png``.
The artist-level study of the project's rows against the peers (``make study-peers``:
``data/09_study/peers8-confirm``, eight seeds the candidates were not picked on) goes
between ``<!-- peers-study:begin -->`` and ``<!-- peers-study:end -->``, its forest
plot copied to ``docs/figures/study_beyond_forest.png``.

``--check`` compares each block on its own -- each table, the study, the figure --
and exits 1 naming the ones that differ from the reports. A block with nothing to
compare against here (no study folder in a fresh clone) is kept and not judged, and
tables that match but were made on another machine pass with a note.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from coldstart.determinism import describe_environment
from coldstart.world.audio import atomic_write_bytes

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
STUDY_BEGIN, STUDY_END = "<!-- study:begin -->", "<!-- study:end -->"
FIGURE = Path("docs/figures/study_forest.png")
PEERS_BEGIN, PEERS_END = "<!-- peers-study:begin -->", "<!-- peers-study:end -->"
PEERS_FIGURE = Path("docs/figures/study_beyond_forest.png")
ENVIRONMENT = "run_environment.json"
SECTIONS = (
    ("Table 1 (artist level)", "table1_artist.md"),
    ("Table 2 (song level)", "table2_song.md"),
    ("Table 3 (new tracks of known artists, docs/known_artist.md)", "table3_known_artist.md"),
    (
        "New releases (the world's `releases/`, scored against its held-out plays)",
        "releases_quality.md",
    ),
)
MACHINE = "machine"
MACHINE_OPENING = "*One run, one draw"
#: What the ° marks of the tables can and cannot say (the same for every run).
SIGNIFICANCE_NOTE = (
    "*Reading the ° marks.* They come from a paired test over users on one trained model "
    "per row: they say whether two rows rank these users' test items differently *with "
    "these weights*. They ignore training variance -- another split, another "
    "initialisation, another machine's arithmetic retrains every network -- so they "
    "cannot say whether an ordering holds in general. The multi-seed study's claims "
    "table (the section above) can, and is what the text cites.\n"
)


@dataclass(frozen=True)
class Part:
    """One block of the generated single-run section: its name and its Markdown."""

    name: str
    text: str


def machine_line(reporting: Path) -> str:
    """Who made the run, from its ``run_environment.json`` (or that it was not recorded)."""
    path = reporting / ENVIRONMENT
    if not path.is_file():
        return (
            f"{MACHINE_OPENING}.* The machine that made it was not recorded (no "
            f"`{path.as_posix()}`: a run before the record existed).\n"
        )
    environment = json.loads(path.read_text(encoding="utf-8"))
    return (
        f"{MACHINE_OPENING}*, made on {describe_environment(environment)} (`{path.as_posix()}`).\n"
    )


def result_parts(reporting: Path) -> list[Part]:
    """The single-run section as parts: machine, each table, the significance note."""
    parts = [Part(MACHINE, machine_line(reporting))]
    for title, name in SECTIONS:
        path = reporting / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `make run` first")
        text = path.read_text(encoding="utf-8").strip()
        parts.append(Part(title, f"**{title}** (`{path.as_posix()}`)\n\n{text}\n"))
    parts.append(Part("the note on the ° marks", SIGNIFICANCE_NOTE))
    return parts


def results_block(reporting: Path) -> str:
    """The generated Markdown of the reports, one titled block each."""
    return "\n".join(part.text for part in result_parts(reporting))


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


def peers_block(study: Path) -> str:
    """The peers study's beyond-the-paper claims and Table 1 rows, or how to make them."""
    report = study / "study_beyond.md"
    if not report.is_file():
        return (
            f"No artist-level peers study in `{study.as_posix()}` yet: `make study-peers` "
            "runs it (docs/peers.md), then `make results` pastes it here.\n"
        )
    meta = json.loads((study / "study.json").read_text(encoding="utf-8"))
    seeds = ", ".join(str(s) for s in meta["seeds"])
    return (
        f"**Project rows against every peer, artist level, {len(meta['seeds'])} seeds "
        f"({seeds})** (`{report.as_posix()}`)\n\n"
        f"{report.read_text(encoding='utf-8').strip()}\n\n"
        f"![project rows against the peers]({PEERS_FIGURE.as_posix()})\n\n"
        f"**Table 1 rows across the same seeds** (`{(study / 'study_rows.md').as_posix()}`)\n\n"
        f"{(study / 'study_rows.md').read_text(encoding='utf-8').strip()}\n"
    )


def marked(readme: str, begin: str, end: str) -> str:
    """The text between ``begin`` and ``end`` in ``readme``."""
    if begin not in readme or end not in readme:
        raise ValueError(f"README has no {begin} ... {end} markers")
    return readme.split(begin, 1)[1].split(end, 1)[0]


def with_results(readme: str, block: str, begin: str = BEGIN, end: str = END) -> str:
    """``readme`` with the text between the markers replaced by ``block``."""
    marked(readme, begin, end)
    head, rest = readme.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{block}{end}{tail}"


def stale_parts(readme: str, reporting: Path) -> tuple[list[str], list[str]]:
    """Names of the single-run parts the README does not show as the reports have them.

    Returns ``(stale, notes)``. Each table is judged on its own. A machine line that
    differs while everything else matches is a note, not staleness: the same figures
    made on another machine.
    """
    current = marked(readme, BEGIN, END).strip("\n")
    first, _, rest = current.partition("\n")
    readme_machine, readme_rest = (
        (first, rest) if first.startswith(MACHINE_OPENING) else ("", current)
    )
    machine, *others = result_parts(reporting)
    stale = [part.name for part in others if part.text.strip() not in readme_rest]
    if not stale and readme_rest.strip() != "\n".join(part.text for part in others).strip():
        stale.append("the results block's layout")
    notes = []
    if readme_machine.strip() != machine.text.strip():
        if not readme_machine:
            stale.append("the line naming the machine")
        elif not stale:
            notes.append(
                "the tables match; the README names another machine than this run's "
                f"{ENVIRONMENT} (the same figures made on another machine are not stale)"
            )
    return stale, notes


def check(args: argparse.Namespace, readme: str) -> int:
    """Compare every block with its source; print the stale ones; 0 if none is."""
    stale, notes = stale_parts(readme, args.reporting)
    stale = [f"{name} (from {args.reporting.as_posix()})" for name in stale]
    report = args.study / "study_report.md"
    if STUDY_BEGIN in readme:
        if report.is_file():
            if marked(readme, STUDY_BEGIN, STUDY_END).strip() != study_block(args.study).strip():
                stale.append(f"the study block (from {report.as_posix()})")
        else:
            notes.append(f"no {report.as_posix()} here: the study block is not checked")
    peers_report = args.peers_study / "study_beyond.md"
    if PEERS_BEGIN in readme:
        if peers_report.is_file():
            current = marked(readme, PEERS_BEGIN, PEERS_END).strip()
            if current != peers_block(args.peers_study).strip():
                stale.append(f"the peers study block (from {peers_report.as_posix()})")
        else:
            notes.append(f"no {peers_report.as_posix()} here: the peers block is not checked")
    for figure_source, target in (
        (args.study / "study_forest.png", FIGURE),
        (args.peers_study / "study_beyond_forest.png", PEERS_FIGURE),
    ):
        figure = args.readme.parent / target
        if figure_source.is_file() and (
            not figure.is_file() or figure.read_bytes() != figure_source.read_bytes()
        ):
            stale.append(f"{target.as_posix()} (from {figure_source.as_posix()})")
    for note in notes:
        print(f"{args.readme}: {note}")
    if stale:
        print(f"{args.readme} is stale: " + "; ".join(stale), file=sys.stderr)
        return 1
    print(f"{args.readme}: every block matches the reports")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--reporting", type=Path, default=Path("data/08_reporting"))
    parser.add_argument("--study", type=Path, default=Path("data/09_study/default"))
    parser.add_argument(
        "--peers-study", type=Path, default=Path("data/09_study/peers8-confirm"), help=(
            "the artist-level study of the project's rows against the peers"
        ),
    )  # fmt: skip
    parser.add_argument("--check", action="store_true", help="exit 1 naming each stale block")
    args = parser.parse_args(argv)
    readme = args.readme.read_text(encoding="utf-8")
    if args.check:
        return check(args, readme)
    updated = with_results(readme, results_block(args.reporting))
    if STUDY_BEGIN in readme:
        current = marked(readme, STUDY_BEGIN, STUDY_END).strip()
        if (args.study / "study_report.md").is_file() or not current:
            updated = with_results(updated, study_block(args.study), STUDY_BEGIN, STUDY_END)
        else:  # a clone without the study keeps the README's block, never a placeholder
            print(f"no study report in {args.study}: the README's study block is kept")
    if PEERS_BEGIN in readme:
        current = marked(readme, PEERS_BEGIN, PEERS_END).strip()
        if (args.peers_study / "study_beyond.md").is_file() or not current:
            updated = with_results(updated, peers_block(args.peers_study), PEERS_BEGIN, PEERS_END)
        else:
            print(f"no peers study in {args.peers_study}: the README's peers block is kept")
    for figure_source, target in (
        (args.study / "study_forest.png", FIGURE),
        (args.peers_study / "study_beyond_forest.png", PEERS_FIGURE),
    ):
        if figure_source.is_file():
            figure = args.readme.parent / target
            figure.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(figure, figure_source.read_bytes())
    atomic_write_bytes(args.readme, updated.encode("utf-8"))
    print(f"{args.readme}: results copied from {args.reporting}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

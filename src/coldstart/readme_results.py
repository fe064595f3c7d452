"""Copy the results of the last run into the README (``make results``).

The README's results section is the generated Markdown of ``data/08_reporting``
(the two tables and the release quality), pasted between the markers
``<!-- results:begin -->`` and ``<!-- results:end -->``, never typed by hand.
``--check`` exits 1 when the README differs from the reports (for CI or review).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
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


def with_results(readme: str, block: str) -> str:
    """``readme`` with the text between the markers replaced by ``block``."""
    if BEGIN not in readme or END not in readme:
        raise ValueError(f"README has no {BEGIN} ... {END} markers")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{block}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--reporting", type=Path, default=Path("data/08_reporting"))
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    args = parser.parse_args(argv)
    readme = args.readme.read_text(encoding="utf-8")
    updated = with_results(readme, results_block(args.reporting))
    if args.check:
        if updated != readme:
            print(f"{args.readme} does not show the results in {args.reporting}", file=sys.stderr)
            return 1
        return 0
    tmp = args.readme.with_suffix(".md.tmp")
    tmp.write_text(updated, encoding="utf-8")
    tmp.replace(args.readme)
    print(f"{args.readme}: results copied from {args.reporting}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Across-seed aggregation of a multi-split study: rows, the paper's claims, a forest plot.

The unit of replication is the seed: each seed draws its own train/val/test split
and initialises every model from it, so a seed's MAP@k is one observation of a
row. Intervals and tests are across seeds (Student's t with K - 1 degrees of
freedom); the per-user tests of one run's tables answer a different question
(is the difference real *on this split*?).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Results-table CSV of each level, as the evaluation pipeline writes them.
TABLE_FILES = {
    "artist": "table1_artist.csv",
    "song": "table2_song.csv",
    "known": "table3_known_artist.csv",
}


#: How the study report titles each table's rows.
LEVEL_TITLES = {
    "artist": "artist level",
    "song": "song level",
    "known": "new tracks of known artists (Table 3)",
}


@dataclass(frozen=True)
class Claim:
    """``better`` beats ``worse`` on MAP in ``table`` (a statement of the paper)."""

    table: str
    better: str
    worse: str
    source: str = ""

    @property
    def label(self) -> str:
        return f"{self.better} > {self.worse}"


#: The comparisons the paper's text draws from Tables 1 and 2 (§6.2, §6.3).
PAPER_CLAIMS: tuple[Claim, ...] = (
    Claim("artist", "a-sem", "a-text", "Table 1: entity linking helps the biography"),
    Claim("artist", "a-tags", "tags-itemKnn", "Table 1: the FF beats the tag kNN baseline"),
    Claim("artist", "a-text", "text-rf", "Table 1: the FF beats the random-forest baseline"),
    Claim("song", "sem-emb", "sem-vsm", "Table 2: artist embeddings beat the raw VSM (Sem Bio)"),
    Claim("song", "tags-emb", "tags-vsm", "Table 2: artist embeddings beat the raw VSM (tags)"),
    Claim("song", "mm-lf-lin", "sem-emb", "Table 2: fusion beats the text embedding alone"),
    Claim("song", "mm-lf-lin", "audio", "Table 2: fusion beats audio alone"),
    Claim("song", "mm-lf-lin", "mm", "Table 2: late fusion beats end-to-end training"),
)


#: Per-user significance CSV of each level (one seed's paired tests, Holm-adjusted),
#: written by the evaluation beside its table.
SIGNIFICANCE_FILES = {
    level: name.replace(".csv", "_significance.csv") for level, name in TABLE_FILES.items()
}
#: Level of the per-user test behind "seeds ahead": the tables' own ° threshold.
PER_USER_ALPHA = 0.01


#: Project rows put against every peer row in the beyond-the-paper claims (docs/peers.md):
#: the paper's a-tags, a-text-all (picked on validation), the project's DropoutNet on
#: tags (a peer method but this project's own implementation, against the other peers)
#: and a-fusion, DropoutNet on tags plus the text rows' direction (picked on seeds
#: 2017-2024; `make study-peers` puts every candidate to eight other seeds).
BEYOND_CANDIDATES = ("a-tags", "a-text-all", "dropoutnet-tags", "a-fusion")


def beyond_paper_claims(
    candidates: Sequence[str], peers: Sequence[str], table: str = "artist"
) -> tuple[Claim, ...]:
    """``candidate > peer`` for every pair: claims the paper could not make (docs/peers.md)."""
    return tuple(
        Claim(table, candidate, peer, "beyond the paper: a project row against a peer")
        for candidate in candidates
        for peer in peers
        if candidate != peer
    )


def seed_significance(significance: pd.DataFrame, *, seed: int, level: str) -> pd.DataFrame:
    """One seed's per-user tests as ``seed, table, a, b, mean_difference, p`` (Holm-adjusted)."""
    return pd.DataFrame(
        {
            "seed": int(seed),
            "table": level,
            "a": significance["a"].astype(str),
            "b": significance["b"].astype(str),
            "mean_difference": significance["mean_difference"].astype(float),
            "p": significance["p_ttest_holm"].astype(float),
        }
    )


def per_user_verdicts(
    significance: pd.DataFrame, claim: Claim, alpha: float = PER_USER_ALPHA
) -> tuple[int, int]:
    """In how many seeds ``better`` is significantly ahead of / behind ``worse`` over users.

    The test is the one each seed's table marks (paired t-test over users,
    Holm-adjusted over the table's pairs), at ``alpha``.
    """
    rows = significance[significance["table"] == claim.table]
    forward = rows[(rows["a"] == claim.better) & (rows["b"] == claim.worse)]
    backward = rows[(rows["a"] == claim.worse) & (rows["b"] == claim.better)]
    diff = pd.concat(
        [
            forward.assign(d=forward["mean_difference"]),
            backward.assign(d=-backward["mean_difference"]),
        ]
    )
    significant = diff[diff["p"] < alpha]
    return int((significant["d"] > 0).sum()), int((significant["d"] < 0).sum())


def map_column(columns: Iterable[str], k: int | None = None) -> str:
    """The table's MAP@k column: ``map_at_<k>`` for the table's ``k``, or its only one."""
    columns = list(columns)
    if k is not None and f"map_at_{k}" in columns:
        return f"map_at_{k}"
    found = [c for c in columns if c.startswith("map_at_") and not c.endswith("_active")]
    if len(found) != 1:
        raise ValueError(f"expected one map_at_<k> column, found {found or 'none'}")
    return found[0]


def seed_table(table: pd.DataFrame, *, seed: int, level: str) -> pd.DataFrame:
    """One seed's results table as long rows ``seed, table, approach, map``."""
    column = map_column(table.columns, int(table["k"].iloc[0]) if "k" in table else None)
    if table["approach"].duplicated().any():
        dupes = sorted(table.loc[table["approach"].duplicated(), "approach"])
        raise ValueError(f"seed {seed}, {level} table: approaches repeat: {dupes}")
    return pd.DataFrame(
        {
            "seed": int(seed),
            "table": level,
            "approach": table["approach"].astype(str),
            "map": table[column].astype(float),
            "order": np.arange(len(table)),
        }
    )


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval of ``values`` (NaN bounds for fewer than 2 values)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean()) if x.size else math.nan
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def summarise_rows(per_seed: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per (table, approach): mean MAP over seeds, its interval, spread and range.

    Rows keep the order of the results tables. A row missing from some seeds is
    summarised over the seeds that have it (``n_seeds`` says how many).
    """
    out = []
    for (level, approach), group in per_seed.groupby(["table", "approach"], sort=False):
        mean, low, high = t_interval(group["map"].to_numpy(), confidence)
        out.append(
            {
                "table": level,
                "approach": approach,
                "n_seeds": int(len(group)),
                "map_mean": mean,
                "ci_low": low,
                "ci_high": high,
                "map_sd": float(group["map"].std(ddof=1)) if len(group) > 1 else math.nan,
                "map_min": float(group["map"].min()),
                "map_max": float(group["map"].max()),
                "order": float(group["order"].mean()),
            }
        )
    frame = pd.DataFrame(out)
    level_rank = {name: i for i, name in enumerate(TABLE_FILES)}
    frame["_level"] = frame["table"].map(level_rank).fillna(len(level_rank))
    frame = frame.sort_values(["_level", "order"], kind="stable").drop(columns=["_level", "order"])
    return frame.reset_index(drop=True)


def summarise_claims(
    per_seed: pd.DataFrame,
    claims: Sequence[Claim],
    confidence: float = 0.95,
    significance: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per claim: the across-seed mean MAP difference, its interval, and a test.

    ``holds`` counts the seeds where ``better`` scored strictly higher. ``p_ttest``
    is the two-sided one-sample t-test of the per-seed differences against 0
    (the paired t-test across seeds); ``p_sign`` the two-sided exact sign test,
    which assumes nothing about their distribution. Claims whose rows are absent
    from the study are listed with ``n_seeds = 0``. With ``significance`` (the
    seeds' per-user tests, :func:`seed_significance`), ``ahead`` and ``behind``
    count the seeds where that test finds ``better`` significantly ahead or behind.
    """
    from scipy import stats

    wide = per_seed.pivot_table(index=["table", "seed"], columns="approach", values="map")
    out = []
    for claim in claims:
        record: dict[str, object] = {
            "table": claim.table,
            "claim": claim.label,
            "better": claim.better,
            "worse": claim.worse,
            "source": claim.source,
        }
        if (
            claim.table not in wide.index.get_level_values(0)
            or claim.better not in wide.columns
            or claim.worse not in wide.columns
        ):
            out.append(record | {"n_seeds": 0})
            continue
        pair = wide.loc[claim.table, [claim.better, claim.worse]].dropna()
        diff = (pair[claim.better] - pair[claim.worse]).to_numpy()
        mean, low, high = t_interval(diff, confidence)
        wins = int((diff > 0).sum())
        losses = int((diff < 0).sum())
        p_t = (
            float(stats.ttest_1samp(diff, 0.0).pvalue)
            if diff.size > 1 and np.ptp(diff) > 0
            else math.nan
        )
        p_sign = (
            float(stats.binomtest(wins, wins + losses, 0.5).pvalue) if wins + losses else math.nan
        )
        per_user = {}
        if significance is not None:
            ahead, behind = per_user_verdicts(significance, claim)
            per_user = {"ahead": ahead, "behind": behind}
        out.append(
            record
            | per_user
            | {
                "n_seeds": int(diff.size),
                "diff_mean": mean,
                "ci_low": low,
                "ci_high": high,
                "holds": wins,
                "p_ttest": p_t,
                "p_sign": p_sign,
                "verdict": verdict(low, high, wins, int(diff.size)),
            }
        )
    return pd.DataFrame(out)


def verdict(low: float, high: float, holds: int, n: int) -> str:
    """A plain-words reading of one claim's interval."""
    if n == 0:
        return "not run"
    if math.isnan(low):
        return "holds" if holds == n else "fails"
    if low > 0:
        return "holds"
    if high < 0:
        return "reversed"
    return "not resolved"


def _fmt(value: object, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _fmt_p(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"


def rows_markdown(rows: pd.DataFrame, seeds: Sequence[int], confidence: float, k: str) -> str:
    """The study's per-row table, one block per results table."""
    pct = f"{confidence:.0%}".replace("%", " %")
    parts = []
    for level, group in rows.groupby("table", sort=False):
        lines = [
            f"*{LEVEL_TITLES.get(level, level + ' level')}*",
            "",
            f"| Approach | mean {k} | {pct} interval | sd | min | max |",
            "|---|---:|---|---:|---:|---:|",
        ]
        for r in group.itertuples():
            lines.append(
                f"| {r.approach} | {_fmt(r.map_mean)} | [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}] "
                f"| {_fmt(r.map_sd)} | {_fmt(r.map_min)} | {_fmt(r.map_max)} |"
            )
        parts.append("\n".join(lines))
    seeds_text = ", ".join(str(s) for s in seeds)
    parts.append(
        f"{k} averaged over {len(seeds)} seeds ({seeds_text}); each seed draws its own "
        f"split and model initialisation. Intervals: Student's t across seeds."
    )
    return "\n\n".join(parts) + "\n"


def claims_markdown(claims: pd.DataFrame, confidence: float, k: str) -> str:
    """The claims as the study finds them (with per-user columns when the frame has them)."""
    pct = f"{confidence:.0%}".replace("%", " %")
    per_user = "ahead" in claims.columns
    extra = " ahead / behind, p<0.01 over users |" if per_user else ""
    lines = [
        f"| Claim | Table | mean Δ{k} | {pct} interval | holds in | p (t, seeds) | p (sign) "
        f"|{extra} reading |",
        "|---|---|---:|---|---:|---:|---:|" + ("---:|" if per_user else "") + "---|",
    ]
    for r in claims.to_dict("records"):
        n = int(r.get("n_seeds", 0))
        if not n:
            dash = " – |" if per_user else ""
            lines.append(f"| {r['claim']} | {r['table']} | – | – | – | – | – |{dash} not run |")
            continue
        users = f" {int(r['ahead'])} / {int(r['behind'])} |" if per_user else ""
        lines.append(
            f"| {r['claim']} | {r['table']} | {_fmt(r['diff_mean'])} "
            f"| [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}] | {r['holds']}/{n} "
            f"| {_fmt_p(r['p_ttest'])} | {_fmt_p(r['p_sign'])} |{users} {r['verdict']} |"
        )
    lines += [
        "",
        "Δ is the better row's MAP minus the other's, per seed. *holds*: the interval lies "
        "above 0; *reversed*: below 0; *not resolved*: it contains 0. With few seeds the "
        "sign test cannot reach small p-values (5 seeds: at best 0.0625).",
    ]
    if per_user:
        lines.append(
            "*ahead / behind*: in how many seeds that seed's own per-user test (the paired "
            "t-test over users of its table, Holm-adjusted) finds the first row ahead of, "
            "or behind, the second at p < 0.01."
        )
    return "\n".join(lines) + "\n"


def forest_plot(
    claims: pd.DataFrame,
    per_seed: pd.DataFrame,
    confidence: float,
    k: str,
    title: str = "The paper's claims",
) -> object:
    """Forest plot: per claim the mean difference, its interval and every seed's value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = claims[claims["n_seeds"] > 0].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * max(len(shown), 1) + 1.4))
    wide = per_seed.pivot_table(index=["table", "seed"], columns="approach", values="map")
    for y, r in enumerate(shown.itertuples()):
        pair = wide.loc[r.table, [r.better, r.worse]].dropna()
        seeds_diff = (pair[r.better] - pair[r.worse]).to_numpy()
        ax.scatter(
            seeds_diff, np.full(seeds_diff.size, y), s=14, color="0.55", zorder=2, label=None
        )
        if not math.isnan(r.ci_low):
            ax.plot([r.ci_low, r.ci_high], [y, y], color="tab:blue", lw=2.2, zorder=3)
        ax.scatter([r.diff_mean], [y], marker="D", s=38, color="tab:blue", zorder=4)
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels([f"{r.claim}  ({r.table})" for r in shown.itertuples()])
    ax.invert_yaxis()
    # long claim labels leave the axes narrow: centre the texts on the figure, not the axes
    ax.set_xlabel(f"Δ {k} (better − other)\ndiamond: mean, bar: {confidence:.0%} interval")
    fig.suptitle(f"{title} over {per_seed['seed'].nunique()} seeds (grey: one seed)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def study_metrics(rows: pd.DataFrame, claims: pd.DataFrame) -> Mapping[str, float]:
    """Flat MLflow metrics of the study run (finite values only)."""
    metrics: dict[str, float] = {}
    for r in rows.itertuples():
        for name in ("map_mean", "ci_low", "ci_high", "map_sd"):
            value = float(getattr(r, name))
            if math.isfinite(value):
                metrics[f"{r.table}.{r.approach}.{name}"] = value
    for r in claims.to_dict("records"):
        if not r.get("n_seeds"):
            continue
        key = f"claim.{r['table']}.{r['better']}_vs_{r['worse']}"
        for name in ("diff_mean", "ci_low", "ci_high", "holds", "p_ttest"):
            value = float(r[name])
            if math.isfinite(value):
                metrics[f"{key}.{name}"] = value
    return metrics

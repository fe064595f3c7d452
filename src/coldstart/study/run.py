"""Run the protocol over K seeds and aggregate across them (``python -m coldstart.study``).

Each seed is one ``kedro run --pipelines=tables`` (both results tables, no release
model) in its own data root, ``<data_root>/09_study/<name>/seed_<seed>``, with
``seed=<seed>``: the split and every model's initialisation follow it. What does
not depend on the seed is shared through ``cache_root=<data_root>``: the world
(``dataset_dir``) and the CQT store of every track are computed once, by the
first seed or by an earlier ``kedro run``, and read by the others.

MLflow: one run for the study, one run per seed nested under it (the seed's
``kedro run`` logs into it, its row runs nested one level further), and per seed
run the MAP of every row as metrics, so the seeds compare side by side in the UI.

A seed that finished is not run again (its ``study_seed.json`` says so) unless
``--rerun`` or the code it ran with (git's tree of ``src/`` and ``conf/``) has
changed since; a failed seed stops the study with the log's last lines, and
rerunning the same command resumes from it.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from coldstart.study.aggregate import (
    BEYOND_CANDIDATES,
    PAPER_CLAIMS,
    SIGNIFICANCE_FILES,
    TABLE_FILES,
    Claim,
    beyond_paper_claims,
    claims_markdown,
    forest_plot,
    map_column,
    rows_markdown,
    seed_significance,
    seed_table,
    study_metrics,
    summarise_claims,
    summarise_rows,
)
from coldstart.world.audio import atomic_write_bytes

logger = logging.getLogger("coldstart.study")

PROJECT = Path(__file__).resolve().parents[3]
SEED_MARKER = "study_seed.json"
#: Pipelines whose nodes make up each stage of the timing table, in run order.
STAGES = (
    "world",
    "ingestion",
    "semantic_enrichment",
    "factorization",
    "audio",
    "text",
    "fusion",
    "peers",
    "known_artist",
    "evaluation",
)


#: ``--level``: the pipeline each seed runs and the results tables it writes.
LEVELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "all": ("tables", tuple(TABLE_FILES)),
    "artist": ("tables_artist", ("artist",)),
}
#: Row templates of the peers (``coldstart.pipelines.peers``): the beyond-the-paper rivals.
PEER_TEMPLATES = frozenset({"dropoutnet", "clcrec", "cmf", "lightfm"})


class StudyError(RuntimeError):
    """A seed's run failed or its outputs are unusable."""


@dataclass(frozen=True)
class Settings:
    """What the study needs from the project's configuration."""

    env: str
    data_root: Path
    level: str
    base_seed: int
    experiment_name: str
    tracking_uri: str


def parse_params(text: str | None) -> dict[str, str]:
    """``"a=1,b=x"`` -> ``{"a": "1", "b": "x"}`` (``kedro run --params`` syntax)."""
    params: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--params: {item!r} is not key=value")
        params[key.strip()] = value.strip()
    return params


def encode_params(params: dict[str, Any]) -> str:
    """The inverse of :func:`parse_params`; refuses values kedro could not split."""
    for key, value in params.items():
        if "," in str(value):
            raise ValueError(f"--params value of {key!r} contains a comma: {value!r}")
    return ",".join(f"{key}={value}" for key, value in params.items())


def load_settings(
    env: str, params: dict[str, str], project: Path = PROJECT, level: str = "all"
) -> Settings:
    """Resolve data root, base seed and MLflow store through a real Kedro session."""
    import mlflow
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env, runtime_params=params) as session:
        context = session.load_context()  # kedro-mlflow sets the tracking URI here
        data_root = Path(params.get("data_root") or context.config_loader["globals"]["data_root"])
        return Settings(
            env=env,
            data_root=data_root if data_root.is_absolute() else project / data_root,
            level=level,
            base_seed=int(context.params["seed"]),
            experiment_name=context.mlflow.tracking.experiment.name,
            tracking_uri=mlflow.get_tracking_uri(),
        )


def read_seed_tables(
    reporting: Path, seed: int, levels: Sequence[str] = tuple(TABLE_FILES)
) -> pd.DataFrame:
    """The seed's results tables of ``levels`` as long rows (see :func:`seed_table`)."""
    frames = []
    for level in levels:
        path = reporting / TABLE_FILES[level]
        if not path.is_file():
            raise StudyError(f"seed {seed}: {path} is missing (did its run finish?)")
        frames.append(seed_table(pd.read_csv(path), seed=seed, level=level))
    return pd.concat(frames, ignore_index=True)


def read_seed_significance(
    reporting: Path, seed: int, levels: Sequence[str] = tuple(TABLE_FILES)
) -> pd.DataFrame:
    """The seed's per-user tests of ``levels`` (empty where a table has none)."""
    frames = [
        seed_significance(pd.read_csv(path), seed=seed, level=level)
        for level in levels
        if (path := reporting / SIGNIFICANCE_FILES[level]).is_file()
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def study_claims(
    per_seed: pd.DataFrame, rows: dict[str, dict[str, Any]] | None = None
) -> tuple[tuple[Claim, ...], tuple[Claim, ...]]:
    """The paper's claims on the study's tables, and the beyond-the-paper ones.

    Beyond the paper: each of :data:`BEYOND_CANDIDATES` the study ran against every
    artist-level peer row (templates :data:`PEER_TEMPLATES`) it ran.
    """
    from coldstart.rows import load_rows

    rows = load_rows() if rows is None else rows
    levels = set(per_seed["table"])
    ran = set(per_seed.loc[per_seed["table"] == "artist", "approach"])
    peers = [
        row["approach"]
        for row in rows.values()
        if row["table"] == "artist" and row["template"] in PEER_TEMPLATES
        and row["approach"] in ran
    ]  # fmt: skip
    candidates = [c for c in BEYOND_CANDIDATES if c in ran]
    paper = tuple(c for c in PAPER_CLAIMS if c.table in levels)
    return paper, beyond_paper_claims(candidates, peers)


def stage_of_nodes() -> dict[str, str]:
    """``node name -> stage`` from the project's pipeline modules."""
    from coldstart.pipeline_registry import stage_pipelines

    pipelines = stage_pipelines()
    stages: dict[str, str] = {}
    for stage in STAGES:
        for node in pipelines[stage].nodes:
            stages.setdefault(node.name, stage)
    return stages


def stage_timings(timings: dict[int, dict[str, float]], stages: dict[str, str]) -> pd.DataFrame:
    """Seconds per stage and seed (``other`` for nodes no stage module declares)."""
    records = [
        {"seed": seed, "stage": stages.get(node, "other"), "seconds": seconds}
        for seed, nodes in timings.items()
        for node, seconds in nodes.items()
    ]
    if not records:
        return pd.DataFrame(columns=["stage", "mean_seconds", "total_seconds"])
    frame = pd.DataFrame(records).groupby(["stage", "seed"], as_index=False)["seconds"].sum()
    summary = frame.groupby("stage", as_index=False)["seconds"].agg(["mean", "sum"])
    summary.columns = ["stage", "mean_seconds", "total_seconds"]
    order = {stage: i for i, stage in enumerate((*STAGES, "other"))}
    return summary.sort_values("stage", key=lambda s: s.map(order)).reset_index(drop=True)


def timings_markdown(stages: pd.DataFrame, n_seeds: int, wall_seconds: float) -> str:
    """Where the study's time went, stage by stage."""
    lines = ["| Stage | per seed (s) | all seeds (s) |", "|---|---:|---:|"]
    for r in stages.itertuples():
        lines.append(f"| {r.stage} | {r.mean_seconds:.0f} | {r.total_seconds:.0f} |")
    lines.append(f"| **study wall time** | | **{wall_seconds:.0f}** |")
    lines.append("")
    lines.append(
        f"{n_seeds} seeds. Node wall seconds summed per stage (`08_reporting/node_timings.json` "
        "of each seed); a stage whose work is cached (CQT extraction, the world) costs "
        "little after the first seed."
    )
    return "\n".join(lines) + "\n"


def _shown(path: Path) -> str:
    """``path`` relative to the project when it lies inside it (as the README shows it)."""
    try:
        return path.resolve().relative_to(PROJECT).as_posix()
    except ValueError:
        return path.as_posix()


def _write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def code_version(project: Path = PROJECT) -> str:
    """What a seed's figures depend on: git's tree hashes of ``src/`` and ``conf/``.

    Commits that touch only docs, tests or the README keep it; uncommitted changes
    under ``src/`` or ``conf/`` make it ``dirty`` (never reused), no git ``unknown``.
    """
    try:
        trees = [
            subprocess.run(
                ["git", "rev-parse", f"HEAD:{folder}"],
                cwd=project, capture_output=True, text=True, timeout=10, check=True,
            ).stdout.strip()
            for folder in ("src", "conf")
        ]  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "src", "conf"],
            cwd=project, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return "dirty" if dirty else "src:{} conf:{}".format(*trees)


def _reusable(marker: Path, code: str) -> dict | None:
    """The record of a seed finished earlier with this code, else None (with why)."""
    if not marker.is_file():
        return None
    record = json.loads(marker.read_text(encoding="utf-8"))
    earlier = record.get("code_version", "unknown")
    if code in ("dirty", "unknown") or earlier != code:
        logger.info(
            "seed %s: finished earlier with other code (%s, now %s): run again",
            record.get("seed"),
            earlier,
            code,
        )
        return None
    return record


def run_seed(
    seed: int,
    seed_root: Path,
    settings: Settings,
    params: dict[str, str],
    run_id: str,
    run_name: str,
    project: Path = PROJECT,
) -> float:
    """One seed's ``kedro run`` of its level's pipeline, logging into ``run_id``; returns seconds."""
    seed_root.mkdir(parents=True, exist_ok=True)
    seed_params = {
        # the seeds are for the figures: their models are on disk, not each logged to MLflow
        "mlflow_models.log_row_models": "false",
        **params,
        "seed": seed,
        "data_root": seed_root.as_posix(),
        "cache_root": settings.data_root.as_posix(),
        "mlflow_run_id": run_id,
        "mlflow_run_name": run_name,
    }
    command = [
        sys.executable,
        "-m",
        "kedro",
        "run",
        f"--pipelines={LEVELS[settings.level][0]}",
        f"--env={settings.env}",
        f"--params={encode_params(seed_params)}",
    ]
    log_path = seed_root / "kedro_run.log"
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        returncode = subprocess.run(
            command, cwd=project, stdout=log, stderr=subprocess.STDOUT, check=False
        ).returncode
    if returncode:
        raise StudyError(
            f"seed {seed}: `kedro run` exited with {returncode}; log {log_path}, last lines:\n"
            + _tail(log_path)
        )
    return time.perf_counter() - started


def _seed_metrics(table: pd.DataFrame, k_label: str) -> dict[str, float]:
    return {
        f"{r.table}.{r.approach}.{k_label}": float(r.map)
        for r in table.itertuples()
        if math.isfinite(r.map)
    }


def run_study(
    seeds: Sequence[int],
    settings: Settings,
    params: dict[str, str],
    *,
    name: str,
    confidence: float = 0.95,
    rerun: bool = False,
    aggregate_only: bool = False,
    project: Path = PROJECT,
) -> Path:
    """Run (or resume) every seed, aggregate, log the study; returns the study folder.

    ``aggregate_only``: run no seed; aggregate those that finished (their
    ``study_seed.json``), whatever code they ran with -- ``study.json`` lists it.
    """
    import mlflow
    from mlflow.entities import Metric, Param
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
    from tqdm.auto import tqdm

    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"seeds must be distinct and at least one, got {list(seeds)}")
    study_root = settings.data_root / "09_study" / name
    study_root.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(settings.experiment_name)
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else client.create_experiment(settings.experiment_name)
    )
    study_run = client.create_run(
        experiment_id,
        run_name=f"study/{name}",
        tags={"coldstart.kind": "study", "coldstart.study": name, "coldstart.env": settings.env},
    )
    study_id = study_run.info.run_id
    client.log_batch(
        study_id,
        params=[
            Param("k", str(len(seeds))),
            Param("seeds", ",".join(map(str, seeds))),
            Param("env", settings.env),
            Param("level", settings.level),
            Param("confidence", str(confidence)),
            Param("study_root", study_root.as_posix()),
        ],
    )
    logger.info("Study '%s': %d seeds %s -> %s", name, len(seeds), list(seeds), study_root)
    started = time.perf_counter()
    status = "FAILED"
    code = code_version(project)
    client.set_tag(study_id, "coldstart.code_version", code)
    try:
        levels = LEVELS[settings.level][1]
        tables, significance, timings, seed_runs, codes = [], [], {}, {}, {}
        for seed in tqdm(seeds, desc=f"study {name}", unit="seed"):
            seed_root = study_root / f"seed_{seed}"
            marker = seed_root / SEED_MARKER
            if aggregate_only:
                if not marker.is_file():
                    logger.info("seed %d: not finished, left out (--aggregate-only)", seed)
                    continue
                earlier = json.loads(marker.read_text(encoding="utf-8"))
            else:
                earlier = _reusable(marker, code) if not rerun else None
            if earlier is not None:
                record = earlier
                client.set_tag(record["run_id"], MLFLOW_PARENT_RUN_ID, study_id)
                logger.info("seed %d: done earlier (run %s), reused", seed, record["run_id"])
            else:
                run_name = f"study/{name}/seed={seed}"
                seed_run = client.create_run(
                    experiment_id,
                    run_name=run_name,
                    tags={
                        MLFLOW_PARENT_RUN_ID: study_id,
                        "coldstart.kind": "seed",
                        "coldstart.study": name,
                        "coldstart.seed": str(seed),
                    },
                )
                run_id = seed_run.info.run_id
                logger.info("seed %d: kedro run into %s (MLflow run %s)", seed, seed_root, run_id)
                try:
                    seconds = run_seed(seed, seed_root, settings, params, run_id, run_name, project)
                except BaseException:
                    # the seed's own run guard may have ended it already (KILLED on SIGTERM)
                    if client.get_run(run_id).info.status == "RUNNING":
                        client.set_terminated(run_id, "FAILED")
                    raise
                record = {
                    "seed": seed,
                    "run_id": run_id,
                    "seconds": round(seconds, 1),
                    "code_version": code,
                }
                _write_text(marker, json.dumps(record, indent=2))
                logger.info("seed %d: finished in %.0f s", seed, seconds)
            codes[seed] = record.get("code_version", "unknown")
            table = read_seed_tables(seed_root / "08_reporting", seed, levels)
            significance.append(read_seed_significance(seed_root / "08_reporting", seed, levels))
            artist_table = pd.read_csv(seed_root / "08_reporting" / TABLE_FILES["artist"])
            k_label = map_column(
                artist_table.columns,
                int(artist_table["k"].iloc[0]) if "k" in artist_table else None,
            )
            now = int(time.time() * 1000)
            client.log_batch(
                record["run_id"],
                metrics=[
                    Metric(key, value, now, 0)
                    for key, value in _seed_metrics(table, k_label).items()
                ],
            )
            tables.append(table)
            seed_runs[seed] = record["run_id"]
            timing_file = seed_root / "08_reporting" / "node_timings.json"
            if timing_file.is_file():
                timings[seed] = json.loads(timing_file.read_text(encoding="utf-8"))["nodes"]

        if not tables:
            raise StudyError(f"no finished seed in {study_root}")
        seeds = [seed for seed in seeds if seed in seed_runs]
        per_seed = pd.concat(tables, ignore_index=True)
        per_user = pd.concat(significance, ignore_index=True)
        rows = summarise_rows(per_seed, confidence)
        paper_claims, beyond = study_claims(per_seed)
        claims = summarise_claims(per_seed, paper_claims, confidence)
        beyond_claims = summarise_claims(per_seed, beyond, confidence, per_user)
        k_text = k_label.replace("map_at_", "MAP@")
        stages = stage_timings(timings, stage_of_nodes())
        wall = time.perf_counter() - started
        outputs = write_report(
            study_root,
            per_seed,
            rows,
            claims,
            stages,
            seeds,
            confidence,
            k_text,
            wall,
            beyond=beyond_claims,
            per_user=per_user,
        )
        _write_text(
            study_root / "study.json",
            json.dumps(
                {
                    "name": name,
                    "env": settings.env,
                    "level": settings.level,
                    "seeds": list(seeds),
                    "code_versions": {str(s): c for s, c in codes.items()},
                    "confidence": confidence,
                    "mlflow_study_run": study_id,
                    "mlflow_seed_runs": {str(s): r for s, r in seed_runs.items()},
                },
                indent=2,
            ),
        )
        now = int(time.time() * 1000)
        client.log_batch(
            study_id,
            metrics=[
                Metric(k, v, now, 0)
                for k, v in study_metrics(rows, pd.concat([claims, beyond_claims])).items()
            ],
        )
        for path in (*outputs, study_root / "study.json"):
            client.log_artifact(study_id, str(path))
        status = "FINISHED"
        logger.info("Study '%s' done in %.0f s: %s", name, wall, study_root / "study_report.md")
        return study_root
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        client.set_terminated(study_id, status)


def write_report(
    study_root: Path,
    per_seed: pd.DataFrame,
    rows: pd.DataFrame,
    claims: pd.DataFrame,
    stages: pd.DataFrame,
    seeds: Sequence[int],
    confidence: float,
    k_text: str,
    wall_seconds: float,
    beyond: pd.DataFrame | None = None,
    per_user: pd.DataFrame | None = None,
) -> list[Path]:
    """Write the study's tables, figures and report atomically; returns the paths.

    ``beyond`` (the beyond-the-paper claims) adds ``study_beyond.{csv,md}`` and
    ``study_beyond_forest.png``; ``per_user`` (the seeds' per-user tests)
    ``study_significance.csv``.
    """
    import matplotlib.pyplot as plt

    beyond = beyond if beyond is not None and len(beyond) else None
    files = {
        "study_seeds.csv": per_seed.drop(columns=["order"]).to_csv(index=False),
        "study_rows.csv": rows.to_csv(index=False),
        "study_claims.csv": claims.to_csv(index=False),
        **({"study_beyond.csv": beyond.to_csv(index=False)} if beyond is not None else {}),
        **(
            {"study_significance.csv": per_user.to_csv(index=False)}
            if per_user is not None and len(per_user)
            else {}
        ),
        "study_timings.csv": stages.to_csv(index=False),
        "study_rows.md": rows_markdown(rows, seeds, confidence, k_text),
        "study_claims.md": claims_markdown(claims, confidence, k_text),
        **(
            {"study_beyond.md": claims_markdown(beyond, confidence, k_text)}
            if beyond is not None
            else {}
        ),
        "study_timings.md": timings_markdown(stages, len(seeds), wall_seconds),
    }
    paths = []
    for file_name, text in files.items():
        _write_text(study_root / file_name, text)
        paths.append(study_root / file_name)
    figures = {"study_forest.png": (claims, "The paper's claims")}
    if beyond is not None:
        figures["study_beyond_forest.png"] = (beyond, "Project rows against the peers")
    for file_name, (frame, title) in figures.items():
        figure = forest_plot(frame, per_seed, confidence, k_text, title=title)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=120)
        plt.close(figure)
        atomic_write_bytes(study_root / file_name, buffer.getvalue())
        paths.append(study_root / file_name)
    beyond_text = (
        f"**Beyond the paper: project rows against the peers across {len(seeds)} seeds** "
        f"(`{_shown(study_root / 'study_beyond.md')}`)\n\n"
        f"{files['study_beyond.md']}\n"
        f"![beyond the paper](study_beyond_forest.png)\n\n"
        if beyond is not None
        else ""
    )
    report = (
        f"**The paper's claims across {len(seeds)} seeds** "
        f"(`{_shown(study_root / 'study_claims.md')}`)\n\n"
        f"{files['study_claims.md']}\n"
        f"![forest plot](study_forest.png)\n\n"
        f"{beyond_text}"
        f"**Rows across seeds**\n\n{files['study_rows.md']}\n"
        f"**Where the time went**\n\n{files['study_timings.md']}"
    )
    _write_text(study_root / "study_report.md", report)
    paths.append(study_root / "study_report.md")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m coldstart.study",
        description="Run both results tables over K seeds and aggregate across seeds.",
    )
    parser.add_argument("--k", type=int, default=5, help="number of seeds (default 5)")
    parser.add_argument(
        "--seeds", help="comma-separated seeds (default: the configured seed and the K-1 after it)"
    )
    parser.add_argument("--env", default="local", help="Kedro environment (default local)")
    parser.add_argument("--name", help="study name: its folder under 09_study (default: the env)")
    parser.add_argument(
        "--params", help="runtime params for every seed, as `kedro run --params` (key=value,...)"
    )
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--rerun", action="store_true", help="run seeds that finished before")
    parser.add_argument(
        "--level",
        choices=sorted(LEVELS),
        default="all",
        help="all: both tables (`kedro run --pipelines=tables`); artist: Table 1 only "
        "(`--pipelines=tables_artist`, no audio)",
    )
    parser.add_argument(
        "--aggregate-only",
        action="store_true",
        help="run no seed: aggregate the seeds that finished, whatever code they ran with",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    params = parse_params(args.params)
    reserved = {"seed", "cache_root", "mlflow_run_id", "mlflow_run_name"} & set(params)
    if reserved:
        parser.error(f"--params may not set {sorted(reserved)}: the study sets them per seed")
    if not 0 < args.confidence < 1:
        parser.error("--confidence must be in (0, 1)")
    if args.rerun and args.aggregate_only:
        parser.error("--rerun and --aggregate-only exclude each other")
    settings = load_settings(args.env, params, level=args.level)
    if args.seeds:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    else:
        if args.k < 1:
            parser.error("--k must be at least 1")
        seeds = [settings.base_seed + i for i in range(args.k)]
    name = args.name or ("default" if args.env == "local" else args.env)
    try:
        run_study(
            seeds,
            settings,
            params,
            name=name,
            confidence=args.confidence,
            rerun=args.rerun,
            aggregate_only=args.aggregate_only,
        )
    except StudyError as exc:
        logger.error("%s", exc)
        return 1
    return 0

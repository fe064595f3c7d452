"""Nodes of the evaluation pipeline: baselines, MAP@500 per row, MLflow, results tables."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- shared inputs


def split_test_plays(plays: Any, items: pd.DataFrame) -> tuple[Any, np.ndarray]:
    """Relevance for evaluation: plays of the test items, and the users to evaluate.

    Returns the users × test-items CSR (columns in ``items`` order) and the
    indices of the evaluated users: those with at least one train play, the only
    ones WMF gives factors. Users among them with no test play count 0 in
    ``map_at_500`` (the paper's reference code).
    """
    split = items["split"].to_numpy()
    test_plays = plays[:, np.flatnonzero(split == "test")].tocsr()
    train_plays = plays[:, np.flatnonzero(split == "train")].tocsr()
    evaluated = np.flatnonzero(np.diff(train_plays.indptr) > 0)
    logger.info(
        "Evaluation: %d users with train plays, %d of them with test plays, %d test items",
        len(evaluated),
        int((np.diff(test_plays.indptr)[evaluated] > 0).sum()),
        test_plays.shape[1],
    )
    return test_plays, evaluated


# --------------------------------------------------------------------------- baseline rows


def random_test_factors(item_factors: np.ndarray, items: pd.DataFrame, seed: int) -> np.ndarray:
    """The ``random`` row: Gaussian factors for the test items (seeded)."""
    n_test = int((items["split"] == "test").sum())
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_test, item_factors.shape[1])).astype(np.float32)


def upper_bound_test_factors(item_factors: np.ndarray, items: pd.DataFrame) -> np.ndarray:
    """The ``upper-bound`` row: the test items' own folded-in WMF factors."""
    return np.asarray(item_factors[(items["split"] == "test").to_numpy()], dtype=np.float32)


# --------------------------------------------------------------------------- one row


def evaluate_row(
    user_factors: np.ndarray,
    test_item_factors: np.ndarray,
    test_plays: Any,
    evaluated_users: np.ndarray,
    row_params: dict,
    evaluation: dict,
) -> tuple[dict, np.ndarray]:
    """MAP@k and friends of one row; returns the metrics and the per-user AP vector.

    Every cut-off of ``evaluation.cutoffs`` comes from one scoring and ranking pass
    over the users (:func:`coldstart.metrics.evaluate_factors_at`).
    """
    from coldstart.metrics import evaluate_factors_at

    row = row_params["row"]
    if test_item_factors.shape[0] != test_plays.shape[1]:
        raise ValueError(
            f"Row '{row['approach']}': {test_item_factors.shape[0]} predicted test items but the "
            f"test play matrix has {test_plays.shape[1]} test items"
        )
    k = int(evaluation["k"])
    backend = evaluation.get("backend", "local")
    options: dict[str, Any] = {}
    if backend == "spark":
        from coldstart.spark.evaluation import evaluate_factors_at_on_spark as evaluate_factors_at
    elif backend == "local":
        options["log_progress"] = f"evaluation of {row['approach']} ({row['table']})"
        # auto: on a GPU when the Keras backend sees one (coldstart.device), else the CPU
        options["device"] = str(evaluation.get("device", "auto"))
    else:
        raise ValueError(f"evaluation.backend must be 'local' or 'spark', got {backend!r}")

    at = evaluate_factors_at(
        user_factors,
        test_item_factors,
        test_plays,
        cutoffs(evaluation),
        normalize_items=bool(row.get("normalize_items", True)),
        users=evaluated_users,
        batch_size=int(evaluation.get("batch_size", 4096)),
        **options,
    )
    result = at[k]
    metrics = {key: _plain(value) for key, value in result.summary().items()}
    # the same metrics at the other cut-offs; the per-user AP (tests, intervals) stays at k
    for cutoff, other in at.items():
        if cutoff != k:
            extra = other.summary()
            metrics.update({key: _plain(v) for key, v in extra.items() if key not in metrics})
    metrics["n_candidates"] = int(test_plays.shape[1])
    split = split_fingerprint(test_plays, evaluated_users)
    logger.info(
        "%s (%s): MAP@%d %.4f (active users %.4f), %d users, %d candidates",
        row["approach"],
        row["table"],
        k,
        metrics[f"map_at_{k}"],
        metrics[f"map_at_{k}_active"],
        metrics["n_users"],
        metrics["n_candidates"],
    )
    return {"row": dict(row), "metrics": metrics, "split_sha256": split}, np.asarray(
        result.user_ap, dtype=np.float64
    )


def split_fingerprint(test_plays: Any, evaluated_users: np.ndarray) -> str:
    """SHA-256 of the test split a row was scored on: which users, which items, which plays.

    Logged with every row run, so a run says which split it belongs to even when the
    split tables have since been rewritten by another run.
    """
    import hashlib

    import scipy.sparse as sp

    plays = sp.csr_matrix(test_plays)
    digest = hashlib.sha256(repr(plays.shape).encode())
    for part in (plays.indptr, plays.indices, plays.data, evaluated_users):
        digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


def cutoffs(evaluation: dict) -> list[int]:
    """The cut-offs reported besides ``k`` (``evaluation.cutoffs``), ascending, ``k`` included."""
    values = {int(evaluation["k"]), *(int(c) for c in evaluation.get("cutoffs", []) or [])}
    if min(values) < 1:
        raise ValueError(f"evaluation cut-offs must be >= 1, got {sorted(values)}")
    return sorted(values)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def git_commit() -> str:
    """The commit the code runs from (`-dirty` with uncommitted changes), or "unknown"."""
    try:
        here = Path(__file__).resolve().parent
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}{'-dirty' if dirty else ''}" if commit else "unknown"


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value
    return out


def learning_curve_figure(history: dict, title: str) -> Any:
    """Training and validation loss per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for key in sorted(_curves(history)):
        values = history[key]
        axis.plot(np.arange(1, len(values) + 1), values, marker="o", label=key)
    axis.set_xlabel("epoch")
    axis.set_ylabel("cosine proximity loss")
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    return figure


def _curves(history: dict | None) -> dict[str, list[float]]:
    """The per-epoch series of a training history (its scalars left out)."""
    return {k: v for k, v in (history or {}).items() if isinstance(v, list)}


#: Parameters every row run carries, whatever the row (``-``: not applicable).
COMMON_PARAMETERS = (
    "table",
    "level",
    "approach",
    "template",
    "input",
    "data_model",
    "arch",
    "artist_input",
    "track_input",
    "dataset",
    "seed",
    "n_params",
    "epochs",
    "best_epoch",
    "train_seconds",
    "split_sha256",
)


#: The tag that groups a table's row runs in MLflow: ``tags.table = 'table1'`` in the UI's
#: search box shows Table 1's rows alone, so its charts compare only them.
TABLE_TAG = "table"


def table_label(row: dict) -> str:
    """``table1`` for an artist-level row, ``table2`` for a song-level one, ``table3`` for
    a known-artist one."""
    from coldstart.rows import TABLES

    return TABLES[row["table"]].split("_")[0]


def row_run_name(row: dict) -> str:
    """``table1/random``, ``table2/random``, ``table3/random``: unique across the tables."""
    return f"{table_label(row)}/{row['approach']}"


def hyperparameter_keys(row_params: list[dict]) -> tuple[str, ...]:
    """Sorted union of the flattened hyper-parameter keys of ``row_params`` (``row`` left out)."""
    keys: set[str] = set()
    for params in row_params:
        keys |= set(_flatten("", {k: v for k, v in params.items() if k != "row"}, {}))
    return tuple(sorted(keys - set(COMMON_PARAMETERS)))


def row_run_parameters(
    row: dict,
    row_params: dict,
    dataset_dir: str,
    seed: int,
    history: dict | None,
    all_hyperparameter_keys: tuple[str, ...] = (),
    split_sha256: str = "-",
) -> dict[str, str]:
    """The row run's parameters: :data:`COMMON_PARAMETERS`, then every row's hyper-parameters.

    ``all_hyperparameter_keys`` is the union over the rows (:func:`hyperparameter_keys`),
    so every row run has the same key set and rows line up in MLflow's compare view;
    a key the row does not have reads ``-``.
    """
    history = history or {}
    curves = _curves(history)
    val_loss = curves.get("val_loss") or []
    common = {
        "table": row["table"],
        "level": row["table"],
        "approach": row["approach"],
        "template": row.get("template", "-"),
        "input": row.get("input", "-"),
        "data_model": row.get("data_model", "-"),
        "arch": row.get("arch", "-"),
        "artist_input": row.get("artist_input", "-"),
        "track_input": row.get("track_input", "-"),
        "dataset": str(dataset_dir),
        "seed": seed,
        "n_params": history.get("n_params", "-"),
        "epochs": len(curves.get("loss", [])) or "-",
        "best_epoch": int(np.argmin(val_loss)) + 1 if val_loss else "-",
        "train_seconds": history.get("train_seconds", "-"),
        "split_sha256": split_sha256,
    }
    own = _flatten("", {k: v for k, v in row_params.items() if k != "row"}, {})
    params = {key: str(value) for key, value in common.items()}
    for key in all_hyperparameter_keys or tuple(sorted(own)):
        if key not in params:
            params[key] = str(own.get(key, "-"))[:500]
    return params


def log_row_run(
    row_result: dict,
    user_ap: np.ndarray,
    row_params: dict,
    dataset_dir: str,
    seed: int,
    history: dict | None = None,
    *,
    all_hyperparameter_keys: tuple[str, ...] = (),
) -> dict:
    """Log one results-table row as an MLflow run nested under the ``kedro run``'s run.

    The run is named ``table1/<approach>`` or ``table2/<approach>``, carries the same
    parameter keys as every other row (:func:`row_run_parameters`), the row's metrics
    and its losses per epoch (``training.loss``, ``training.val_loss``); a trained
    row's run starts when its training started, so its duration covers training and
    evaluation. Returns a small record of what was logged (run id, or why nothing
    was). With no active MLflow run (kedro-mlflow off, or a bare runner in tests)
    nothing is logged and the record says so.
    """
    import time

    import mlflow
    from mlflow.entities import Metric
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    row = row_result["row"]
    parent = mlflow.active_run()
    if parent is None:
        logger.info("No active MLflow run: row '%s' is not logged", row["approach"])
        return {"logged": False, "reason": "no active MLflow run"}
    params = row_run_parameters(
        row,
        row_params,
        dataset_dir,
        seed,
        history,
        all_hyperparameter_keys,
        row_result.get("split_sha256", "-"),
    )
    name = row_run_name(row)
    started_ms = int((history or {}).get("started_at_ms") or time.time() * 1000)
    client = mlflow.MlflowClient()
    created = client.create_run(
        parent.info.experiment_id,
        start_time=started_ms,
        run_name=name,
        tags={
            MLFLOW_PARENT_RUN_ID: parent.info.run_id,
            "git_commit": git_commit(),
            TABLE_TAG: table_label(row),
            "results_table": row["table"],
            "row": row["approach"],
        },
    )
    with mlflow.start_run(run_id=created.info.run_id, nested=True) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(
            {k: float(v) for k, v in row_result["metrics"].items() if isinstance(v, int | float)}
        )
        mlflow.log_dict(row_result, "row_result.json")
        mlflow.log_text(
            "\n".join(f"{value:.10g}" for value in user_ap), "per_user_average_precision.txt"
        )
        curves = _curves(history)
        if curves:
            now = int(time.time() * 1000)
            client.log_batch(
                run.info.run_id,
                metrics=[
                    Metric(f"training.{key}", float(value), now, step)
                    for key, values in curves.items()
                    for step, value in enumerate(values, start=1)
                ],
            )
            figure = learning_curve_figure(curves, row["approach"])
            mlflow.log_figure(figure, "learning_curves.png")
            import matplotlib.pyplot as plt

            plt.close(figure)
        logger.info(
            "MLflow: row '%s' logged as run %s (%s)", row["approach"], run.info.run_id, name
        )
        return {"logged": True, "run_id": run.info.run_id, "parent_run_id": parent.info.run_id}


def _model_input_example(model: Any) -> Any:
    """One all-zero input in the model's own shape and dtype: its serving contract.

    Keras models give one array per input (a dict when there are several), a
    scikit-learn regressor a ``(1, n_features_in_)`` float32 row. A dimension the
    model leaves open (a sequence length) gets 8, more than the widest text filter.
    """
    if hasattr(model, "n_features_in_"):
        return np.zeros((1, int(model.n_features_in_)), dtype=np.float32)
    arrays = {
        tensor.name: np.zeros(
            (1, *(8 if size is None else int(size) for size in tensor.shape[1:])),
            dtype=str(tensor.dtype),
        )
        for tensor in model.inputs
    }
    return next(iter(arrays.values())) if len(arrays) == 1 else arrays


def _pinned_requirements(model: Any) -> tuple[str, ...]:
    """The installed versions the model's flavour needs to load it again."""
    from importlib.metadata import version

    packages = (
        ("scikit-learn", "skops") if hasattr(model, "n_features_in_") else ("keras", "tensorflow")
    )
    return tuple(f"{package}=={version(package)}" for package in ("mlflow", *packages))


def row_model_for_mlflow(
    model: Any, mlflow_run: dict, row_params: dict, mlflow_models: dict
) -> Any:
    """The row's trained model, addressed to the row's MLflow run (``{row}.logged_model``,
    ``{row}.logged_estimator`` for scikit-learn rows).

    The catalog's :class:`~coldstart.datasets.mlflow_models.MlflowRowModelDataset`
    logs it there in its MLflow flavour, with an input example from which MLflow
    infers the signature. Nothing is logged when the row has no MLflow run or
    ``mlflow_models.log_row_models`` is false (the multi-seed study turns it off).
    """
    from coldstart.datasets.mlflow_models import RowModel

    row = row_params["row"]
    name = row_run_name(row).replace("/", "-")  # MLflow model names may not hold "/"
    if not mlflow_models.get("log_row_models", True):
        return RowModel(None, None, name, reason="mlflow_models.log_row_models is false")
    if not mlflow_run.get("logged"):
        return RowModel(None, None, name, reason=mlflow_run.get("reason", "the row has no run"))
    return RowModel(
        model=model,
        run_id=mlflow_run["run_id"],
        name=name,
        input_example=_model_input_example(model),
        tags={
            TABLE_TAG: table_label(row),
            "results_table": row["table"],
            "row": row["approach"],
            "input": str(row.get("input", "-")),
            "arch": str(row.get("arch", "-")),
        },
        pip_requirements=_pinned_requirements(model),
    )


# --------------------------------------------------------------------------- tables


def assemble_table(evaluation: dict, significance: dict, *rows: Any) -> tuple:
    """One results table with its significance tests and figure.

    ``rows`` holds, for the n rows of the table, their n ``row_result`` records,
    then their n per-user AP vectors, then their n MLflow run records.

    Returns
    -------
    table
        CSV frame: ``approach, input, data_model, arch, map_at_<k>,
        map_at_<k>_active, recall_at_<k>, ndcg_at_<k>, n_users``, the song table's
        artist and track inputs, the bootstrap interval, MAP, NDCG and recall at
        every other cut-off of ``evaluation.cutoffs``, then ``k`` and
        ``n_candidates`` (the test items every user's list is drawn from).
    markdown
        The paper's layout; a row not significantly different from some other row
        (Holm-adjusted paired t-test over all pairs of the table, p >= alpha) is
        marked °.
    tests
        Paired t-test and Wilcoxon p-values for every pair of rows, raw and
        Holm-adjusted (``p_ttest_holm``, ``p_wilcoxon_holm``; family = the table's pairs).
    figure
        MAP@k per row with a bootstrap 95 % interval over users.
    """
    from coldstart.significance import bootstrap_interval, not_significant_from, paired_tests

    n = len(rows) // 3
    if n == 0 or len(rows) != 3 * n:
        raise ValueError(
            f"expected row results, AP vectors and MLflow records for each row, got {len(rows)}"
        )
    results, aps, runs = rows[:n], rows[n : 2 * n], rows[2 * n :]
    order = sorted(
        range(n), key=lambda i: (results[i]["row"].get("order", 100), results[i]["row"]["approach"])
    )
    results = [results[i] for i in order]
    aps = [np.asarray(aps[i]) for i in order]
    runs = [runs[i] for i in order]
    k = int(evaluation["k"])
    boot = significance.get("bootstrap", {})
    records = []
    for result, ap in zip(results, aps, strict=True):
        row, metrics = result["row"], result["metrics"]
        low, high = bootstrap_interval(
            ap,
            int(boot.get("samples", 1000)),
            float(boot.get("confidence", 0.95)),
            int(boot.get("seed", 0)),
        )
        records.append(
            {
                "approach": row["approach"],
                "input": row.get("input", "-"),
                "data_model": row.get("data_model", "-"),
                "arch": row.get("arch", "-"),
                f"map_at_{k}": metrics[f"map_at_{k}"],
                f"map_at_{k}_active": metrics[f"map_at_{k}_active"],
                f"recall_at_{k}": metrics[f"recall_at_{k}"],
                f"ndcg_at_{k}": metrics[f"ndcg_at_{k}"],
                "n_users": int(metrics["n_users"]),
                "artist_input": row.get("artist_input", "-"),
                "track_input": row.get("track_input", "-"),
                "map_ci_low": low,
                "map_ci_high": high,
                **{
                    f"{name}_at_{c}": metrics.get(f"{name}_at_{c}", float("nan"))
                    for c in cutoffs(evaluation)
                    if c != k
                    for name in ("map", "ndcg", "recall")
                },
                "k": k,
                "n_candidates": int(metrics.get("n_candidates", 0)),
            }
        )
    frame = pd.DataFrame.from_records(records)
    tests = paired_tests({r["row"]["approach"]: ap for r, ap in zip(results, aps, strict=True)})
    alpha = float(significance.get("alpha", 0.01))
    level = results[0]["row"]["table"]
    ties = not_significant_from(tests, alpha, column="p_ttest_holm")
    markdown = _markdown(frame, ties, alpha, level, k, n_pairs=len(tests))
    figure = _map_figure(frame, level, k)
    _log_key_p_values(tests, results, significance)
    return frame, markdown, tests, figure


def _markdown(
    frame: pd.DataFrame,
    ties: dict[str, list[str]],
    alpha: float,
    level: str,
    k: int,
    n_pairs: int,
) -> str:
    """The table in the paper's layout; ``ties`` = the rows each row is not
    significantly different from (Holm-adjusted over the ``n_pairs`` pairs)."""
    if level in ("song", "known"):
        header = ["Approach", "Artist input", "Track input", "Arch", f"MAP@{k}", "95 % CI"]
        cells = ["approach", "artist_input", "track_input", "arch"]
    else:
        header = ["Approach", "Input", "Data model", "Arch", f"MAP@{k}", "95 % CI"]
        cells = ["approach", "input", "data_model", "arch"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 4 + "---:|---|"]
    for record in frame.to_dict("records"):
        mark = "" if not ties.get(record["approach"]) else " °"
        lines.append(
            "| "
            + " | ".join(str(record[c]) for c in cells)
            + f" | {record[f'map_at_{k}']:.4f}{mark} | [{record['map_ci_low']:.4f}, {record['map_ci_high']:.4f}] |"
        )
    notes = [f"{a} ~ {', '.join(sorted(b))}" for a, b in ties.items() if b]
    n_candidates = int(frame["n_candidates"].iloc[0]) if "n_candidates" in frame else 0
    lines.append("")
    lines.append(
        f"MAP@{k} over {int(frame['n_users'].iloc[0])} users; 95 % bootstrap interval over users. "
        f"Every difference is significant at p < {alpha} (paired t-test over users, "
        f"Holm-adjusted over the {n_pairs} pairs of this table) "
        + ("except those marked °: " + "; ".join(notes) + "." if notes else "— none is marked °.")
    )
    shown = [c for c in _frame_cutoffs(frame) if c != k]
    if shown:
        lines.append(
            f"MAP, NDCG and recall at {', '.join(map(str, shown))} are in the CSV beside this table."
        )
    full = [c for c in [*shown, k] if n_candidates and c >= n_candidates]
    if full:
        lines.append(
            f"Each user's list is drawn from the {n_candidates} test items, so at "
            f"{', '.join(f'@{c}' for c in sorted(full))} every item is ranked and recall is 1 "
            "by construction."
        )
    return "\n".join(lines) + "\n"


def _frame_cutoffs(frame: pd.DataFrame) -> list[int]:
    """The cut-offs a table frame has columns for (``map_at_<c>``)."""
    import re

    found = {int(m.group(1)) for c in frame.columns if (m := re.fullmatch(r"map_at_(\d+)", c))}
    return sorted(found)


def _map_figure(frame: pd.DataFrame, level: str, k: int) -> Any:
    """Each row's MAP@k as a point with its 95 % bootstrap interval, on a linear axis from 0.

    Points, not bars, and no log scale: a bar's length, or a log axis starting at an
    arbitrary value, makes a gap between two rows look larger than it is; here the
    distances are the differences, and overlapping intervals are visible as such.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 0.45 * len(frame) + 1.5))
    positions = np.arange(len(frame))[::-1]
    values = frame[f"map_at_{k}"].to_numpy(dtype=float)
    low = frame["map_ci_low"].to_numpy(dtype=float)
    high = frame["map_ci_high"].to_numpy(dtype=float)
    errors = np.clip(np.vstack([values - low, high - values]), 0, None)
    axis.errorbar(
        values, positions, xerr=errors, fmt="o", color="tab:blue", ecolor="tab:blue", capsize=3
    )
    axis.set_yticks(positions, frame["approach"])
    axis.set_xlim(0, max(float(np.nanmax(high, initial=0.0)), 1e-6) * 1.08)
    axis.grid(axis="x", alpha=0.3)
    axis.set_xlabel(f"MAP@{k}, with its 95 % bootstrap interval over users")
    axis.set_title(TABLE_TITLES.get(level, level))
    figure.tight_layout()
    return figure


TABLE_TITLES = {
    "artist": "Table 1: artist recommendation",
    "song": "Table 2: song recommendation",
    "known": "Table 3: new tracks of known artists",
}


def _log_key_p_values(tests, results, significance) -> None:
    """The key comparisons' p-values: a JSON artifact of the ``kedro run``'s run, and the log.

    ``<table>/key_comparisons.json`` beside the table's significance matrix, keyed
    ``<a>_vs_<b>`` -> ``{p_ttest, p_ttest_holm, p_wilcoxon, p_wilcoxon_holm}``. Not
    metrics: MLflow draws a chart for every metric key of the runs listed, and a
    p-value chart per comparison would crowd out the rows' MAP charts.
    """
    import mlflow

    from coldstart.rows import TABLES
    from coldstart.significance import p_value

    parent = mlflow.active_run()
    approaches = {r["row"]["approach"] for r in results}
    level = results[0]["row"]["table"] if results else ""
    found: dict[str, dict[str, float | None]] = {}
    for a, b in significance.get("key_comparisons", []):
        if a not in approaches or b not in approaches:
            continue
        found[f"{a}_vs_{b}"] = {
            column: None if (v := p_value(tests, a, b, column)) is None else float(v)
            for column in ("p_ttest", "p_ttest_holm", "p_wilcoxon", "p_wilcoxon_holm")
        }
        logger.info(
            "%s vs %s: paired t-test p = %.3g (Holm-adjusted over %d pairs: %.3g)",
            a,
            b,
            p_value(tests, a, b),
            len(tests),
            p_value(tests, a, b, "p_ttest_holm"),
        )
    if parent is not None and found:
        mlflow.log_dict(found, f"{TABLES[level]}/key_comparisons.json")

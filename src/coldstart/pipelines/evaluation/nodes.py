"""Nodes of the evaluation pipeline: baselines, MAP@500 per row, MLflow, results tables."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

TABLE_COLUMNS = [
    "approach",
    "input",
    "data_model",
    "arch",
    "map_at_500",
    "map_at_500_active",
    "recall_at_500",
    "ndcg_at_500",
    "n_users",
]


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
    """MAP@k and friends of one row; returns the metrics and the per-user AP vector."""
    from coldstart.metrics import evaluate_factors

    row = row_params["row"]
    if test_item_factors.shape[0] != test_plays.shape[1]:
        raise ValueError(
            f"Row '{row['approach']}': {test_item_factors.shape[0]} predicted test items but the "
            f"test play matrix has {test_plays.shape[1]} test items"
        )
    result = evaluate_factors(
        user_factors,
        test_item_factors,
        test_plays,
        k=int(evaluation["k"]),
        normalize_items=bool(row.get("normalize_items", True)),
        users=evaluated_users,
        batch_size=int(evaluation.get("batch_size", 4096)),
    )
    metrics = {key: _plain(value) for key, value in result.summary().items()}
    logger.info(
        "%s (%s): MAP@%d %.4f (active users %.4f), %d users",
        row["approach"],
        row["table"],
        int(evaluation["k"]),
        metrics[f"map_at_{evaluation['k']}"],
        metrics[f"map_at_{evaluation['k']}_active"],
        metrics["n_users"],
    )
    return {"row": dict(row), "metrics": metrics}, np.asarray(result.user_ap, dtype=np.float64)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _git_commit() -> str:
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
    for key in sorted(history):
        axis.plot(np.arange(1, len(history[key]) + 1), history[key], marker="o", label=key)
    axis.set_xlabel("epoch")
    axis.set_ylabel("cosine proximity loss")
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    return figure


def log_row_run(
    row_result: dict,
    user_ap: np.ndarray,
    row_params: dict,
    dataset_dir: str,
    seed: int,
    history: dict | None = None,
) -> dict:
    """Log one results-table row as an MLflow run nested under the ``kedro run``'s run.

    Returns a small record of what was logged (run id, or why nothing was).
    When no MLflow run is active (kedro-mlflow off, or a bare runner in tests)
    nothing is logged and the record says so.
    """
    import mlflow

    row = row_result["row"]
    parent = mlflow.active_run()
    if parent is None:
        logger.info("No active MLflow run: row '%s' is not logged", row["approach"])
        return {"logged": False, "reason": "no active MLflow run"}
    params = {
        "table": row["table"],
        "approach": row["approach"],
        "input": row.get("input", "-"),
        "data_model": row.get("data_model", "-"),
        "arch": row.get("arch", "-"),
        "artist_input": row.get("artist_input", "-"),
        "track_input": row.get("track_input", "-"),
        "dataset": str(dataset_dir),
        "seed": seed,
    }
    extra = _flatten("", {k: v for k, v in row_params.items() if k != "row"}, {})
    params.update({key: value for key, value in extra.items() if key not in params})
    with mlflow.start_run(
        run_name=row["approach"],
        nested=True,
        tags={"git_commit": _git_commit(), "results_table": row["table"], "row": row["approach"]},
    ) as run:
        mlflow.log_params({key: str(value)[:500] for key, value in params.items()})
        mlflow.log_metrics(
            {k: float(v) for k, v in row_result["metrics"].items() if isinstance(v, int | float)}
        )
        mlflow.log_dict(row_result, "row_result.json")
        mlflow.log_text(
            "\n".join(f"{value:.10g}" for value in user_ap), "per_user_average_precision.txt"
        )
        if history:
            for key, values in history.items():
                for step, value in enumerate(values, start=1):
                    mlflow.log_metric(f"curve_{key}", float(value), step=step)
            figure = learning_curve_figure(history, row["approach"])
            mlflow.log_figure(figure, "learning_curves.png")
            import matplotlib.pyplot as plt

            plt.close(figure)
        logger.info("MLflow: row '%s' logged as run %s", row["approach"], run.info.run_id)
        return {"logged": True, "run_id": run.info.run_id, "parent_run_id": parent.info.run_id}


# --------------------------------------------------------------------------- tables


def assemble_table(evaluation: dict, *row_results: dict) -> tuple[pd.DataFrame, str]:
    """One results table: a CSV frame and a Markdown rendering (paper order)."""
    k = int(evaluation["k"])
    records = []
    for result in sorted(row_results, key=lambda r: (r["row"].get("order", 100), r["row"]["approach"])):
        row, metrics = result["row"], result["metrics"]
        records.append(
            {
                "approach": row["approach"],
                "input": row.get("input", "-"),
                "data_model": row.get("data_model", "-"),
                "arch": row.get("arch", "-"),
                "map_at_500": metrics[f"map_at_{k}"],
                "map_at_500_active": metrics[f"map_at_{k}_active"],
                "recall_at_500": metrics[f"recall_at_{k}"],
                "ndcg_at_500": metrics[f"ndcg_at_{k}"],
                "n_users": int(metrics["n_users"]),
            }
        )
    frame = pd.DataFrame.from_records(records, columns=TABLE_COLUMNS)
    return frame, _markdown(frame)


def _markdown(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---:" if frame[c].dtype.kind in "fi" else "---" for c in frame.columns) + "|"
    lines = [header, rule]
    for record in frame.itertuples(index=False):
        cells = [f"{v:.4f}" if isinstance(v, float) else str(v) for v in record]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

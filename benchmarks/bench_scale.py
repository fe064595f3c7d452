"""How each stage's cost grows towards MSD-A: the ``tables`` stages, audio off, per world.

For each world preset (default -> large -> msd_a_quarter -> msd_a by default) the
stages of the ``tables`` pipeline run as ``kedro run --pipelines=...`` processes, in
order (world, ingestion, semantic_enrichment, factorization, then text, fusion and
evaluation together as "models"), into a work folder of its own, with ``world.audio=false`` (so the
audio rows, mm-lf-* and mm switch themselves off) and MLflow in the work folder.
Per stage it records wall seconds, CPU seconds of the process tree (``RUSAGE_CHILDREN``)
and the peak RSS of the process tree (sampled), and it stops a world once its stages
pass ``--budget-h``. The growth exponent of each stage is fitted between the two
largest worlds that finished it (cost ~ size ** b, size = clean triplets), and the
stages that did not finish at MSD-A are extrapolated with it.

    python benchmarks/bench_scale.py --workdir /scratch/scale
    python benchmarks/bench_scale.py --presets default,large --workdir /tmp/s  # quick
    python benchmarks/bench_scale.py --from-json /scratch/scale/scale_report.json

The report (JSON) is rewritten after every stage, so a run stopped half-way keeps what
it measured, and a rerun skips the (preset, stage) pairs it already holds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_spark import TreePeakRSS  # noqa: E402

# stage label -> the pipelines one `kedro run` of it runs. The text, fusion, peers and
# evaluation pipelines run together: each table needs rows of the others (Table 1's
# random and upper-bound rows come from evaluation, its text rows from text).
STAGES = {
    "world": "world",
    "ingestion": "ingestion",
    "semantic_enrichment": "semantic_enrichment",
    "factorization": "factorization",
    "models": "text,fusion,peers,known_artist,evaluation",
}
PROJECT = Path(__file__).resolve().parents[1]
# MSD-A's clean triplets (paper section 6.1), the size the extrapolation aims at
MSD_A_TRIPLETS = 48_373_586


def trained_rows() -> list[str]:
    """The parameter keys of every row that trains a network (has ``training.epochs``)."""
    import yaml

    rows = []
    for path in sorted((PROJECT / "conf" / "base").glob("parameters_*.yml")):
        for key, value in (yaml.safe_load(path.read_text()) or {}).items():
            if isinstance(value, dict) and "epochs" in (value.get("training") or {}):
                rows.append(key)
    return rows


def run_stage(
    preset: str, stage: str, work: Path, seed: int, max_epochs: int | None = None
) -> dict:
    """One ``kedro run`` of one stage; its wall, tree CPU and tree peak RSS.

    ``max_epochs`` caps every row's training (the per-epoch probe of a world too large
    for the whole models stage in the time at hand)."""
    data_root = work / preset
    capped = (
        []
        if max_epochs is None
        else [f"{row}.training.epochs={max_epochs}" for row in trained_rows()]
    )
    params = ",".join(
        [
            f"world.preset={preset}",
            "world.audio=false",
            f"dataset_dir={data_root / '01_raw' / preset}",
            "generate_world=true",  # outside the default folder: generated only when asked
            f"data_root={data_root}",
            f"mlflow_tracking_uri=sqlite:///{data_root / 'mlruns.db'}",
            "mlflow_models.log_row_models=false",
            f"seed={seed}",
            *capped,
        ]
    )
    kedro = Path(sys.executable).with_name("kedro")
    cmd = [str(kedro), "run", f"--pipelines={STAGES[stage]}", f"--params={params}"]
    log = data_root / f"{stage}.log"
    data_root.mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "w") as out, TreePeakRSS(interval=0.5) as mem:
        rc = subprocess.call(cmd, cwd=PROJECT, stdout=out, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # a world already in place is reused, not generated: say so in the table
    reused = stage == "world" and "matches the config: reusing it" in log.read_text()
    return {
        "reused": reused,
        "rc": rc,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "peak_rss_gb": round((mem.peak - mem.base) / 1e9, 2),
        "log": str(log),
        **({} if max_epochs is None else {"max_epochs": max_epochs}),
    }


def epoch_timestamps(db: Path) -> dict[str, list[int]]:
    """Per trained row (its MLflow name), the millisecond timestamps of its epochs' val
    losses, from the latest run that logged them."""
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT m.key, m.step, m.timestamp, r.start_time FROM metrics m "
            "JOIN runs r ON r.run_uuid = m.run_uuid WHERE m.key LIKE 'training.%.val_loss'"
        ).fetchall()
    finally:
        con.close()
    latest: dict[str, int] = {}
    for key, _, _, start in rows:
        latest[key] = max(latest.get(key, start), start)
    out: dict[str, dict[int, int]] = {}
    for key, step, stamp, start in rows:
        if start == latest[key]:
            out.setdefault(key[len("training.") : -len(".val_loss")], {})[step] = stamp
    return {name: [steps[k] for k in sorted(steps)] for name, steps in out.items()}


def probe_estimate(report: dict, work: Path, preset: str) -> dict | None:
    """The whole models stage at ``preset`` from its epoch-capped probe: the probe's CPU
    seconds, plus, per trained row, the epochs the largest fully run world trained beyond
    the cap times that row's per-epoch time at ``preset`` (wall between its last two
    epochs, turned into CPU seconds by the probe's CPU/wall ratio)."""
    probe = report["worlds"].get(preset, {}).get("stages", {}).get("models", {})
    if probe.get("rc") != 0 or "max_epochs" not in probe:
        return None
    full = [
        (w["triplets"], name)
        for name, w in report["worlds"].items()
        if w.get("triplets")
        and w["stages"].get("models", {}).get("rc") == 0
        and "max_epochs" not in w["stages"]["models"]
    ]
    if not full:
        return None
    _, reference = max(full)
    epochs_there = {k: len(v) for k, v in epoch_timestamps(work / reference / "mlruns.db").items()}
    stamps_here = epoch_timestamps(work / preset / "mlruns.db")
    cpu_per_wall = probe["cpu_s"] / max(probe["wall_s"], 1e-9)
    extra, rows = 0.0, {}
    for name, stamps in stamps_here.items():
        if len(stamps) < 2 or name not in epochs_there:
            continue
        epoch_cpu = (stamps[-1] - stamps[-2]) / 1000 * cpu_per_wall
        more = max(epochs_there[name] - len(stamps), 0)
        rows[name] = {"epoch_cpu_s": round(epoch_cpu, 1), "epochs": epochs_there[name]}
        extra += more * epoch_cpu
    return {
        "cpu_s": round(probe["cpu_s"] + extra, 0),
        "how": (
            f"probe at {probe['max_epochs']} epochs a row ({probe['cpu_s']:,.0f} CPU s, "
            f"evaluation in full) + {extra:,.0f} CPU s for the epochs {reference} trained "
            f"beyond it, at this size's per-epoch cost"
        ),
        "rows": rows,
    }


def clean_triplets(work: Path, preset: str) -> int | None:
    manifest = work / preset / "01_raw" / preset / "world_manifest.json"
    if not manifest.exists():
        return None
    return int(json.loads(manifest.read_text())["counts"]["triplets"])


def extrapolate(report: dict, work: Path | None = None) -> dict:
    """Per stage: b in cost ~ triplets ** b from the two largest finished worlds, and
    the CPU seconds it predicts at MSD-A (measured where MSD-A finished, or built from
    an epoch-capped probe there, see :func:`probe_estimate`)."""
    out = {}
    for stage in STAGES:
        points = [
            (w["triplets"], w["stages"][stage]["cpu_s"])
            for w in report["worlds"].values()
            if w.get("triplets")
            and w["stages"].get(stage, {}).get("rc") == 0
            and not w["stages"][stage].get("reused")
            and "max_epochs" not in w["stages"][stage]
        ]
        points.sort()
        at_msd_a = [c for n, c in points if n >= 0.9 * MSD_A_TRIPLETS]
        probes = [
            name
            for name, w in report["worlds"].items()
            if (w.get("triplets") or 0) >= 0.9 * MSD_A_TRIPLETS
            and "max_epochs" in w["stages"].get(stage, {})
        ]
        estimate = probe_estimate(report, work, probes[0]) if probes and work else None
        if at_msd_a:
            out[stage] = {"cpu_s": at_msd_a[0], "how": "measured"}
        elif estimate:
            out[stage] = {"cpu_s": estimate["cpu_s"], "how": estimate["how"]}
        elif len(points) >= 2:
            (n1, c1), (n2, c2) = points[-2], points[-1]
            b = math.log(max(c2, 1e-3) / max(c1, 1e-3)) / math.log(n2 / n1)
            b = max(b, 0.0)
            out[stage] = {
                "cpu_s": round(c2 * (MSD_A_TRIPLETS / n2) ** b, 0),
                "how": f"b={b:.2f} from {n1:,} -> {n2:,} triplets",
            }
    return out


def markdown(report: dict, work: Path | None = None) -> str:
    lines = [
        f"Machine: {report['machine']}",
        "",
        "| world | triplets | stage | wall s | CPU s | peak RSS GB (tree) |",
        "| --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for preset, w in report["worlds"].items():
        for stage in STAGES:
            r = w["stages"].get(stage)
            if r is None:
                continue
            status = "" if r["rc"] == 0 else f" (rc {r['rc']})"
            status += " (reused)" if r.get("reused") else ""
            status += f" ({r['max_epochs']} epochs a row)" if "max_epochs" in r else ""
            lines.append(
                f"| {preset} | {w.get('triplets') or '-':,} | {stage}{status} | {r['wall_s']:,} "
                f"| {r['cpu_s']:,} | {r['peak_rss_gb']} |"
                if isinstance(w.get("triplets"), int)
                else f"| {preset} | - | {stage}{status} | {r['wall_s']:,} | {r['cpu_s']:,} "
                f"| {r['peak_rss_gb']} |"
            )
    ext = extrapolate(report, work)
    if ext:
        total = sum(v["cpu_s"] for v in ext.values())
        lines += [
            "",
            f"At MSD-A ({MSD_A_TRIPLETS:,} triplets), audio off:",
            "",
            "| stage | CPU s | share | how |",
            "| --- | ---: | ---: | --- |",
        ]
        for stage, v in ext.items():
            lines.append(
                f"| {stage} | {v['cpu_s']:,.0f} | {100 * v['cpu_s'] / total:.0f} % | {v['how']} |"
            )
        lines.append(
            f"| **all** | {total:,.0f} | | {total / 3600:.1f} CPU-h, "
            f"~{total / 3600 / report['cores']:.1f} h on {report['cores']} cores if they all work |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="default,large,msd_a_quarter,msd_a")
    parser.add_argument("--workdir", type=Path, default=PROJECT / "data" / "benchmarks" / "scale")
    parser.add_argument("--budget-h", type=float, default=2.0, help="per world, all stages")
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--from-json", type=Path, help="only print the tables of a report")
    parser.add_argument(
        "--max-epochs",
        type=int,
        help="cap every row's training in the models stage (a per-epoch probe of a world "
        "too large for the whole stage); the estimate adds the epochs the largest fully "
        "run world trained beyond the cap",
    )
    parser.add_argument(
        "--rerun",
        default="",
        help="comma-separated stages to measure again although the report has them "
        "(e.g. models after a change to the rows), or 'all'; the world itself is reused",
    )
    args = parser.parse_args(argv)
    rerun = set(STAGES) if args.rerun == "all" else {s for s in args.rerun.split(",") if s}
    if rerun - set(STAGES):
        parser.error(
            f"--rerun: unknown stage(s) {sorted(rerun - set(STAGES))}; known: {list(STAGES)}"
        )
    if args.from_json:
        report = json.loads(args.from_json.read_text())
        print(markdown(report, args.from_json.parent))
        return report
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / "scale_report.json"
    report = json.loads(path.read_text()) if path.exists() else {"worlds": {}}
    report["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    report["cores"] = os.cpu_count()
    for preset in args.presets.split(","):
        world = report["worlds"].setdefault(preset, {"stages": {}})
        for stage in rerun:
            world["stages"].pop(stage, None)
        spent = sum(r["wall_s"] for r in world["stages"].values())
        for stage in STAGES:
            if world["stages"].get(stage, {}).get("rc") == 0:
                continue
            if spent > args.budget_h * 3600:
                print(f"{preset}: over the {args.budget_h} h budget before {stage}; stopping")
                break
            print(f"{preset}: {stage} ...", flush=True)
            capped = args.max_epochs if stage == "models" else None
            result = run_stage(preset, stage, args.workdir, args.seed, capped)
            world["stages"][stage] = result
            world["triplets"] = clean_triplets(args.workdir, preset)
            spent += result["wall_s"]
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(report, indent=2))
            os.replace(tmp, path)
            print(f"  {result}", flush=True)
            if result["rc"] != 0:
                print(f"{preset}: {stage} failed (see {result['log']}); stopping this world")
                break
    print(markdown(report, args.workdir))
    return report


if __name__ == "__main__":
    main()

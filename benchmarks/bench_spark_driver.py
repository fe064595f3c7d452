"""Driver bytes per factor row in the Spark factorization: the figures behind its sizing.

Not a test. The Spark factorization (``coldstart.spark.factorization``) collects
factor tables ``(id int, features array<float>)`` with ``toPandas`` and sends the
user factors back with ``createDataFrame`` for the fold-in. For ``--users`` rows of
``--factors`` floats, this prints, per row:

* ``collected``: the serialized task results Spark counts against
  ``spark.driver.maxResultSize`` for one ``toPandas`` (read from Spark's status store);
* ``created``: the driver heap the table made by ``createDataFrame`` keeps while it is
  referenced (JVM used heap after full GCs, with and without it);
* ``model``: ``coldstart.spark.sizing.row_bytes``, what the sizing assumes.

    python benchmarks/bench_spark_driver.py --users 100000 --factors 200
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def _used_heap(spark) -> int:
    """JVM heap in use after a few full GCs (``System.gc`` is a request, hence the repeats)."""
    jvm = spark._jvm
    runtime = jvm.java.lang.Runtime.getRuntime()
    for _ in range(3):
        jvm.java.lang.System.gc()
        time.sleep(0.5)
    return runtime.totalMemory() - runtime.freeMemory()


def collected_bytes(spark, frame) -> int:
    """Serialized result bytes of ``frame.toPandas()`` as Spark's scheduler counts them."""
    context = spark.sparkContext
    context.setJobGroup("bench_spark_driver_collect", "toPandas of a factor table")
    frame.toPandas()
    time.sleep(1)  # the status store is fed by a listener, asynchronously
    tracker, store = context.statusTracker(), context._jsc.sc().statusStore()
    total = 0
    for job in tracker.getJobIdsForGroup("bench_spark_driver_collect"):
        for stage in tracker.getJobInfo(job).stageIds:
            total += store.lastStageAttempt(stage).resultSize()
    context.setLocalProperty("spark.jobGroup.id", None)
    return int(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--factors", type=int, default=200)
    parser.add_argument("--driver-memory", default="3g")
    args = parser.parse_args()

    from pyspark.sql import functions as F

    from coldstart.spark.session import start_session
    from coldstart.spark.sizing import row_bytes

    n, k = args.users, args.factors
    spark = start_session({"spark.master": "local[2]", "spark.driver.memory": args.driver_memory})
    try:
        table = (
            spark.range(n)
            .select(
                F.col("id").cast("int").alias("id"),
                F.array_repeat(F.lit(0.5).cast("float"), k).alias("features"),
            )
            .repartition(8)
            .cache()
        )
        table.count()
        collected = collected_bytes(spark, table)
        factors = np.full((n, k), 0.5, dtype=np.float32)
        before = _used_heap(spark)
        users = spark.createDataFrame(
            pd.DataFrame({"user_idx": np.arange(n, dtype=np.int32), "user_factors": list(factors)})
        )
        created = _used_heap(spark) - before
        users.count()  # keeps the table referenced until after the measurement
        print(
            f"rows {n}, k {k}: collected {collected / n:.0f} B/row "
            f"({collected / 2**20:.1f} MiB), created {created / n:.0f} B/row "
            f"({created / 2**20:.1f} MiB), model {row_bytes(k)} B/row"
        )
    finally:
        spark.stop()


if __name__ == "__main__":
    main()

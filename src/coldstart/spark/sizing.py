"""How much memory the Spark driver needs for the factorization (docs/spark.md).

The factor matrices are the project's contract (NumPy arrays in the Kedro process),
so each level's factorization passes them through the driver JVM: the user and
train item factors are collected (``toPandas``), the user factors go back as the
fold-in's user table (``createDataFrame``, kept on the driver while it is used), and
the folded val/test item factors are collected. No ``pyspark`` here: the sizes are
plain arithmetic, checked against ``conf/spark/spark.yml`` by
``tests/test_spark_config.py`` and against the running session by
:func:`driver_memory_warnings`.
"""

from __future__ import annotations

import math
import re

#: The paper's data set (§6.1): Taste Profile users, and the tracks and artists
#: left after cleaning.
MSD_A = {"users": 1_000_000, "songs": 328_821, "artists": 24_043}

#: Driver bytes of one factor row beyond its ``4k`` float32 bytes: Arrow offsets and
#: ids, JVM array headers. Measured on Spark 4.3, local mode, tables above Arrow's
#: local-relation threshold (``benchmarks/bench_spark_driver.py``, docs/spark.md): at
#: k = 200, 837-838 B a row collected and 840-841 B created; at k = 64, 274 B collected
#: and 420-428 B created. 192 covers both.
ROW_OVERHEAD_BYTES = 192

#: Heap Spark sets aside before sharing out the rest (``RESERVED_SYSTEM_MEMORY_BYTES``).
RESERVED_BYTES = 300 * 2**20

_UNITS = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def row_bytes(k: int) -> int:
    """Driver bytes of one ``k``-factor row (collected or created)."""
    return 4 * int(k) + ROW_OVERHEAD_BYTES


def level_driver_bytes(n_users: int, n_items: int, k: int) -> int:
    """Bytes one level (songs or artists) passes through the driver at most at once.

    ``2 n_users + n_items`` rows: the user factors collected, then sent back as the
    fold-in's user table, and the train plus the folded val/test item factors.
    """
    return (2 * int(n_users) + int(n_items)) * row_bytes(k)


def largest_result_bytes(n_users: int, k: int) -> int:
    """The largest single collect (the user factors): bound for ``spark.driver.maxResultSize``."""
    return int(n_users) * row_bytes(k)


def driver_heap_bytes(held_bytes: int, memory_fraction: float = 0.6) -> int:
    """The ``spark.driver.memory`` that holds ``held_bytes`` of collected data.

    Spark keeps :data:`RESERVED_BYTES` and lends ``spark.memory.fraction`` of the
    rest to caching and shuffles (in local mode ALS's blocks and the cached plays
    fill it, spilling to disk beyond); what a job collects or creates on the driver
    lives in the other ``1 - memory_fraction``.
    """
    return RESERVED_BYTES + math.ceil(held_bytes / (1.0 - float(memory_fraction)))


def jvm_bytes(text: str) -> int:
    """A JVM memory string with its unit (``512m``, ``10g``) in bytes."""
    found = re.fullmatch(r"\s*(\d+)\s*([kmgt])b?\s*", str(text).lower())
    if found is None:
        raise ValueError(f"Expected a size with a unit such as 512m or 10g, got {text!r}")
    return int(found.group(1)) * _UNITS[found.group(2)]


def driver_memory_warnings(
    driver_memory: str, max_result_size: str, n_users: int, n_items: int, k: int
) -> list[str]:
    """What the session's driver settings lack for one level of this size (empty: fits).

    ``driver_memory`` and ``max_result_size`` are the session's ``spark.driver.memory``
    and ``spark.driver.maxResultSize`` (``0``: unlimited).
    """
    found = []
    need = driver_heap_bytes(level_driver_bytes(n_users, n_items, k))
    if jvm_bytes(driver_memory) < need:
        found.append(
            f"spark.driver.memory is {driver_memory}; {n_users} users and {n_items} items at "
            f"k={k} need about {need / 2**30:.1f} GiB on the driver"
        )
    result = largest_result_bytes(n_users, k)
    if str(max_result_size).strip() != "0" and jvm_bytes(max_result_size) < result:
        found.append(
            f"spark.driver.maxResultSize is {max_result_size}; collecting {n_users} user "
            f"factors at k={k} takes about {result / 2**30:.2f} GiB"
        )
    return found

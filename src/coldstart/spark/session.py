"""The run's ``SparkSession``: made by :class:`SparkHooks` only when a backend asks for Spark.

Kedro's PySpark convention: the session is created once, after the context, from
``spark.yml`` (``conf/spark/spark.yml``, any ``spark*`` file of the environment).
Nodes then reach it with :func:`active_session`. A run whose ``factorization``,
``evaluation`` and ``audio_features`` backends are all local creates nothing and
imports no ``pyspark``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

#: ``(parameter block, value)`` pairs that need a SparkSession.
SPARK_BACKENDS = {"factorization": "spark", "evaluation": "spark", "audio_features": "spark"}

#: Settings applied unless ``spark.yml`` says otherwise: nothing of Spark's listens
#: beyond loopback on a laptop, and the executors run this interpreter.
DEFAULT_SETTINGS = {
    "spark.app.name": "coldstart",
    "spark.master": "local[*]",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def spark_requested(parameters: dict[str, Any]) -> bool:
    """Whether any stage's ``backend`` parameter is ``spark``."""
    return any(
        isinstance(parameters.get(block), dict) and parameters[block].get("backend") == value
        for block, value in SPARK_BACKENDS.items()
    )


def session_settings(spark_yml: dict[str, Any] | None) -> dict[str, str]:
    """``spark.yml`` on top of :data:`DEFAULT_SETTINGS`, every value a string."""
    settings = dict(DEFAULT_SETTINGS)
    settings.setdefault("spark.pyspark.python", sys.executable)
    settings.setdefault("spark.pyspark.driver.python", sys.executable)
    for key, value in (spark_yml or {}).items():
        settings[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
    return settings


def start_session(spark_yml: dict[str, Any] | None = None) -> Any:
    """Create (or return the running) ``SparkSession`` with :func:`session_settings`."""
    import os
    import warnings

    # pyspark 4.3 warns on every pandas conversion that pandas 3 is not "fully
    # supported"; the conversions used here (numeric columns, float arrays) are tested
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    settings = session_settings(spark_yml)
    # PySpark starts its Python workers with $PYSPARK_PYTHON (default: `python3` on the
    # PATH, not this virtual environment) whatever spark.pyspark.python says
    os.environ.setdefault("PYSPARK_PYTHON", settings["spark.pyspark.python"])
    if settings.get("spark.driver.bindAddress") == "127.0.0.1":
        # also the address Spark's helper servers pick (else the first interface's)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    conf = SparkConf().setAll(list(settings.items()))
    spark = SparkSession.builder.config(conf=conf).getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    logger.info(
        "Spark %s session on %s (%d default partitions)",
        spark.version,
        spark.sparkContext.master,
        spark.sparkContext.defaultParallelism,
    )
    return spark


def active_session() -> Any:
    """The running ``SparkSession`` (one with the default settings when none runs yet)."""
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession() or start_session()


class SparkHooks:
    """Start Spark after the context is created, when the run's parameters ask for it."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        from kedro.config import MissingConfigException

        if not spark_requested(dict(context.config_loader["parameters"])):
            return
        try:
            spark_yml = dict(context.config_loader["spark"])
        except (KeyError, MissingConfigException):
            spark_yml = {}
        start_session(spark_yml)

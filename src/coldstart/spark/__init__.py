"""Spark backends of the heavy stages (factorization, audio features, evaluation).

Nothing here imports ``pyspark`` at module level: a run whose parameters keep every
``backend`` on its local value never starts a JVM (``coldstart.spark.session``).
"""

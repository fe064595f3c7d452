"""The multi-split study: the whole protocol over K seeds, aggregated across seeds.

``python -m coldstart.study`` (``make study``) runs ``kedro run`` once per seed,
each in its own data root, nested under one MLflow study run, then writes the
across-seed tables, the paper's claims and a forest plot (docs/study.md).
"""

"""Recommending new releases: music with no listening history, placed by its content.

* :mod:`.items` -- a releases folder or a request as a ``release_items`` table;
* :mod:`.candidates` -- which rows may serve, and what content each needs;
* :mod:`.bundle` -- every fitted artefact in one verified folder (:class:`ReleaseModel`);
* :mod:`.predict` -- factors for each new artist and track, and the row behind them.

The ``releases`` pipeline and the registered MLflow model are thin wiring over these.
"""

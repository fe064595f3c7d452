"""Remote answers that must not take linking down, and what a rerun or an override keeps (issue 13).

Real loopback servers: the Babelfy replay server of ``test_enrichment_babelfy``
and small SPARQL-like HTTP servers; a real subprocess killed with SIGKILL.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.config import OmegaConfigLoader
from test_enrichment_babelfy import BIOS, KEY, FakeBabelfy, _artists, _linker
from waits import scaled

from coldstart.enrichment import (
    DiskCache,
    EnrichmentConfig,
    EnrichmentIncompleteError,
    SparqlEndpointKnowledgeBase,
    link_artists,
    lookup_entities,
)
from coldstart.enrichment.config import DEFAULTS

PROJECT = Path(__file__).resolve().parents[1]
HOSTILE = "[/x]"


@pytest.fixture
def babelfy():
    server = FakeBabelfy()
    yield server
    server.close()


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/query"


def _answering(status: int, body: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


ENTITIES = [f"http://dbpedia.org/resource/E{i}" for i in range(4)]


def _lookup(url: str, cache: DiskCache, **kwargs):
    kb = SparqlEndpointKnowledgeBase(url, max_retries=1, backoff_s=0.01, max_backoff_s=0.01)
    return lookup_entities(
        ENTITIES, kb, cache, classes=["Band"], properties=["genre"], progress=False, **kwargs
    )


# --------------------------------------------------------------------------- markup in answers


def test_markup_in_babelfy_answers_is_logged_not_interpreted(
    babelfy: FakeBabelfy, tmp_path: Path, rich_log
) -> None:
    babelfy.script = [
        ("json", 400, {"message": f"cannot read {HOSTILE} this"}),  # ARBF0001: refused
        (
            "json",
            200,
            [
                {
                    "charFragment": {"start": 0, "end": 3},
                    "score": 1.0,
                    "DBpediaURL": f"http://dbpedia.org/resource/A>{HOSTILE}",
                }
            ],
        ),
        ("json", 429, {"message": f"daily limit {HOSTILE} exceeded"}),  # then the quota
    ]
    artists = _artists()
    artists.loc[0, "artist_id"] = f"AR{HOSTILE}"
    cache = DiskCache(tmp_path, "linking/babelfy")
    with pytest.raises(EnrichmentIncompleteError, match="still to do") as stop:
        link_artists(artists, _linker(babelfy), cache, progress=False)
    # Kedro logs a failed node's error through the same handler
    logging.getLogger("kedro.pipeline.node").error("Node failed with error: \n%s", stop.value)
    assert "daily limit" in str(stop.value)


def test_markup_in_sparql_errors_is_logged_not_interpreted(tmp_path: Path, rich_log) -> None:
    server, url = _serve(_answering(500, f"Virtuoso 42000 Error {HOSTILE}".encode()))
    try:
        with pytest.raises(EnrichmentIncompleteError, match="4 still to do") as stop:
            _lookup(url, DiskCache(tmp_path, "kb"))
        logging.getLogger("kedro.pipeline.node").error("Node failed with error: \n%s", stop.value)
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- SPARQL HTTP 400


def test_sparql_http_400_stops_cleanly_with_what_is_left(tmp_path: Path) -> None:
    server, url = _serve(_answering(400, b"Virtuoso 37000 Error SP030: SPARQL compiler"))
    try:
        with pytest.raises(EnrichmentIncompleteError) as stop:
            _lookup(url, DiskCache(tmp_path, "kb"), batch_size=2)
        message = str(stop.value)
        assert "0 of 4 are done" in message and "4 still to do" in message
        assert "HTTP 400" in message
        _, log = _lookup(url, DiskCache(tmp_path, "kb"), allow_partial=True)
        assert log["pending"] == 4 and not log["complete"]
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- kill -9 mid-artist

_CHILD = textwrap.dedent(
    """
    import sys
    import pandas as pd
    from coldstart.enrichment import BabelfyLinker, DiskCache, Secret, link_artists

    url, cache_dir, key, text = sys.argv[1:]
    linker = BabelfyLinker(Secret(key), endpoint=url, max_chars=40, timeout_s=60, max_retries=0)
    artists = pd.DataFrame({"artist_id": ["ARLONG"], "biography": [text]})
    link_artists(artists, linker, DiskCache(cache_dir, "linking/babelfy"), progress=False)
    """
)


def test_kill_during_an_artist_repeats_no_answered_request(
    babelfy: FakeBabelfy, tmp_path: Path
) -> None:
    text = " ".join(BIOS[a] for a in ("ARBF0001", "ARBF0002", "ARBF0003"))
    # the first two pieces are answered, the third hangs until the process is killed
    babelfy.script = [("replay",), ("replay",), ("sleep", 30)]
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, babelfy.url, str(tmp_path), KEY, text],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + scaled(300)
        while len(babelfy.requests) < 3:
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the child never reached its third request"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=scaled(120))
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    asked = babelfy.texts()
    assert len(asked) == 3

    babelfy.requests.clear()
    linker = _linker(babelfy, max_chars=40)
    artists = pd.DataFrame({"artist_id": ["ARLONG"], "biography": [text]})
    cache = DiskCache(tmp_path, "linking/babelfy")
    mentions, log = link_artists(artists, linker, cache, progress=False)
    rerun = babelfy.texts()
    assert asked[0] not in rerun and asked[1] not in rerun  # answered before the kill
    assert rerun[0] == asked[2]  # the piece in flight is asked again
    assert log["linked_now"] == 1 and linker.stats["requests_from_cache"] == 2

    babelfy.requests.clear()
    again, log = link_artists(artists, _linker(babelfy, max_chars=40), cache, progress=False)
    assert babelfy.requests == [] and log["from_cache"] == 1
    pd.testing.assert_frame_equal(mentions, again)


# --------------------------------------------------------------------------- parameter overrides


def _loader(conf: Path, env: str, runtime: dict) -> OmegaConfigLoader:
    return OmegaConfigLoader(
        str(conf), base_env="base", default_run_env="local", env=env, runtime_params=runtime
    )


def _base_config(data_root: Path) -> EnrichmentConfig:
    params = _loader(PROJECT / "conf", "base", {"data_root": str(data_root)})["parameters"]
    return EnrichmentConfig.from_params(params["semantic_enrichment"])


def _changed_fields(config: EnrichmentConfig, reference: EnrichmentConfig) -> set[str]:
    return {
        f.name
        for f in dataclasses.fields(config)
        if getattr(config, f.name) != getattr(reference, f.name)
    }


def test_code_defaults_are_the_base_parameters() -> None:
    text = (PROJECT / "conf" / "base" / "parameters_semantic_enrichment.yml").read_text()
    base = yaml.safe_load(text)["semantic_enrichment"]
    base["cache"].pop("dir")  # the catalog's enrichment_cache, under data_root
    assert base == DEFAULTS


def test_one_runtime_key_changes_one_key_in_every_env(tmp_path: Path) -> None:
    reference = _base_config(tmp_path)
    for env in ("local", "test"):  # conf/test has parameter files: Kedro replaces the block
        runtime = {"data_root": str(tmp_path), "semantic_enrichment": {"allow_partial": True}}
        params = _loader(PROJECT / "conf", env, runtime)["parameters"]["semantic_enrichment"]
        config = EnrichmentConfig.from_params(params)
        assert config.allow_partial
        assert _changed_fields(config, reference) <= {"allow_partial", "cache_dir"}, env
        assert config.cache_dir in (None, reference.cache_dir)


def test_one_key_local_file_changes_one_key_and_the_cache_stays_under_data_root(
    babelfy: FakeBabelfy, tmp_path: Path, monkeypatch
) -> None:
    import shutil

    from coldstart.pipelines.semantic_enrichment.nodes import link_entities

    conf = tmp_path / "conf"
    shutil.copytree(PROJECT / "conf" / "base", conf / "base")
    (conf / "local").mkdir()
    (conf / "local" / "parameters_semantic_enrichment.yml").write_text(
        yaml.safe_dump(
            {
                "semantic_enrichment": {
                    "linker": {"type": "babelfy", "babelfy": {"endpoint": babelfy.url}}
                }
            }
        )
    )
    data_root = tmp_path / "data_root"
    loader = _loader(conf, "local", {"data_root": str(data_root)})
    params = loader["parameters"]["semantic_enrichment"]
    config = EnrichmentConfig.from_params(params)
    reference = _base_config(data_root)
    assert config.linker == "babelfy" and config.babelfy["endpoint"] == babelfy.url
    assert config.babelfy["max_chars"] == reference.babelfy["max_chars"] == 3000
    assert _changed_fields(config, reference) == {"linker", "babelfy", "cache_dir"}

    # the node gets the catalog's cache folder, which follows data_root
    cache_entry = loader["catalog"]["enrichment_cache"]
    assert cache_entry["path"] == f"{data_root}/02_intermediate/enrichment_cache"
    monkeypatch.chdir(tmp_path)  # a folder relative to the current directory would land here
    from coldstart.enrichment import Secret

    params = {**params, "progress_bar": False}
    _, log = link_entities(
        _artists(), tmp_path / "none.ttl", Secret(KEY), params, Path(cache_entry["path"])
    )
    assert log["linked_now"] == 4
    assert list((data_root / "02_intermediate" / "enrichment_cache" / "linking").glob("babelfy-*"))
    assert not (tmp_path / "data").exists()

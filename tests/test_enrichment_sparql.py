"""The SPARQLWrapper path against a real SPARQL server on loopback.

The test starts the ``oxigraph`` server (the ``oxigraph`` package) on 127.0.0.1,
loaded with the small Turtle fixture, and checks that the remote and the
embedded knowledge base give the same answers to the same SPARQL text, that
injection attempts never reach the server, that an unreachable or garbled
endpoint stops cleanly, and that a crash midway is resumed from the cache.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from waits import scaled

from coldstart.enrichment import (
    DiskCache,
    EmbeddedKnowledgeBase,
    EnrichmentConfig,
    EnrichmentIncompleteError,
    InvalidIRIError,
    RemoteUnavailableError,
    SparqlEndpointKnowledgeBase,
    entity_facts_query,
    lookup_entities,
    select_facts,
)

FIXTURES = Path(__file__).parent / "fixtures" / "enrichment"
KB_TTL = FIXTURES / "knowledge_base.ttl"
DBR = "http://dbpedia.org/resource/"
CONFIG = EnrichmentConfig.from_params({})
ENTITIES = [
    DBR + e
    for e in (
        "Mara_Quill",
        "The_Copper_Owls",
        "AC/DC",
        "Beyonc%C3%A9",
        "Jazz",
        "Night_Train_Suite",
        "Acme_Corporation",
        "New_York_City",
    )
]
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"


def _oxigraph_cli() -> str | None:
    beside_python = Path(sys.executable).parent / "oxigraph"
    return str(beside_python) if beside_python.exists() else shutil.which("oxigraph")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory):
    """``http://127.0.0.1:<port>/query`` of an Oxigraph server holding the fixture."""
    cli = _oxigraph_cli()
    if cli is None:
        pytest.skip("the `oxigraph` server (pip install oxigraph) is not installed")
    location = tmp_path_factory.mktemp("oxigraph")
    subprocess.run(
        [cli, "load", "--location", str(location), "--file", str(KB_TTL)],
        check=True,
        capture_output=True,
        timeout=scaled(300),
    )
    port = _free_port()
    server = subprocess.Popen(
        [cli, "serve-read-only", "--location", str(location), "--bind", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/query"
    try:
        deadline = time.monotonic() + scaled(120)
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    message = f"oxigraph server did not start: {server.stderr.read()!r}"
                    raise RuntimeError(message) from None
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=scaled(60))


@pytest.fixture(scope="module")
def embedded() -> EmbeddedKnowledgeBase:
    return EmbeddedKnowledgeBase(KB_TTL)


def _remote(url: str, **kwargs) -> SparqlEndpointKnowledgeBase:
    return SparqlEndpointKnowledgeBase(
        url, **{"timeout_s": scaled(60), "max_retries": 1, "backoff_s": 0.01, **kwargs}
    )


def _facts(kb, cache=None, entities=ENTITIES, **kwargs) -> tuple[pd.DataFrame, dict]:
    from coldstart.enrichment import NullCache

    rows, log = lookup_entities(
        entities,
        kb,
        cache if cache is not None else NullCache(),
        classes=CONFIG.classes,
        properties=CONFIG.all_properties(),
        progress=False,
        **kwargs,
    )
    return select_facts(rows, CONFIG.classes, CONFIG.properties), log


def test_remote_and_embedded_answer_alike(endpoint: str, embedded: EmbeddedKnowledgeBase) -> None:
    remote = _remote(endpoint)
    assert remote.select(COUNT)[0]["n"].value == embedded.select(COUNT)[0]["n"].value == "62"
    assert remote.labels(CONFIG.classes) == embedded.labels(CONFIG.classes)
    assert remote.labels(CONFIG.classes, page_size=4) == embedded.labels(CONFIG.classes)
    query = entity_facts_query(ENTITIES, CONFIG.classes, CONFIG.all_properties())
    key = lambda row: tuple(sorted((k, v.value, v.kind) for k, v in row.items()))  # noqa: E731
    assert sorted(map(key, remote.select(query))) == sorted(map(key, embedded.select(query)))

    remote_facts, _ = _facts(remote, batch_size=3)
    embedded_facts, _ = _facts(embedded, batch_size=50)
    pd.testing.assert_frame_equal(remote_facts, embedded_facts)
    kept = set(remote_facts["entity"])
    assert DBR + "AC/DC" in kept and DBR + "Beyonc%C3%A9" in kept
    assert DBR + "Acme_Corporation" not in kept and DBR + "New_York_City" not in kept
    cats = remote_facts.loc[remote_facts["entity"] == DBR + "Mara_Quill", "object"]
    assert "http://dbpedia.org/resource/Category:American_jazz_saxophonists" in set(cats)


INJECTIONS = [
    DBR + "Jazz> ?p ?o } UNION { ?entity ?p ?o } #",
    DBR + "Jazz> } ; DROP ALL ; SELECT * WHERE { <http://x",
    DBR + 'Jazz" . } INSERT DATA { <a> <b> "c" } #',
    DBR + "Jazz>\n}\nSELECT * WHERE { ?s ?p ?o",
    DBR + "Jazz\\u003E } UNION { ?entity ?p ?o",
    DBR + "Jazz%3E } UNION { ?entity ?p ?o",  # spaces: refused as well
]


def test_injection_attempts_never_reach_the_server(endpoint: str) -> None:
    remote = _remote(endpoint)
    for attempt in INJECTIONS:
        with pytest.raises(InvalidIRIError):
            entity_facts_query([attempt], CONFIG.classes, CONFIG.all_properties())
    facts, log = _facts(remote, entities=[*INJECTIONS, DBR + "Jazz"])
    assert log["rejected_iris"] == len(INJECTIONS) and log["n_entities"] == len(INJECTIONS) + 1
    assert set(facts["entity"]) == {DBR + "Jazz"}  # no foreign rows leaked in
    assert remote.stats["requests"] == 1  # one query, for Jazz only
    # A percent-encoded ">" is a legal IRI character sequence: it is an ordinary
    # (unknown) resource, not a way out of the IRI.
    facts, log = _facts(remote, entities=[DBR + "Jazz%3E%7D"])
    assert log["rejected_iris"] == 0 and facts.empty
    assert remote.select(COUNT)[0]["n"].value == "62"


def test_unreachable_endpoint_stops_cleanly(tmp_path: Path) -> None:
    remote = _remote(f"http://127.0.0.1:{_free_port()}/query", max_retries=2)
    cache = DiskCache(tmp_path, "kb")
    with pytest.raises(EnrichmentIncompleteError, match="still to do") as stop:
        _facts(remote, cache, batch_size=3)
    assert "0 of 8 are done" in str(stop.value) and "8 still to do" in str(stop.value)
    assert remote.stats["requests"] == 3  # one try + two retries, then stop
    _, log = _facts(
        _remote(f"http://127.0.0.1:{_free_port()}/query", max_retries=0), cache, allow_partial=True
    )
    assert log["pending"] == 8 and not log["complete"]


class _Garbage(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = b'{"head": {"vars": ["entity"]}, "results": {"bindings": [{"entity": '
        self.send_response(200)
        self.send_header("Content-Type", "application/sparql-results+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_malformed_sparql_answers_are_retried_then_stop() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        remote = _remote(f"http://127.0.0.1:{server.server_address[1]}/query", max_retries=1)
        with pytest.raises(RemoteUnavailableError, match="malformed"):
            remote.select(COUNT)
        assert remote.stats["requests"] == 2
    finally:
        server.shutdown()
        server.server_close()


def test_crash_midway_then_rerun_repeats_no_lookup(endpoint: str, tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, "kb")
    crashing = _remote(endpoint)
    original, queries = crashing.select, []

    def crash_on_second(query: str):
        queries.append(query)
        if len(queries) == 2:
            raise KeyboardInterrupt("simulated crash")
        return original(query)

    crashing.select = crash_on_second
    with pytest.raises(KeyboardInterrupt):
        _facts(crashing, cache, batch_size=3)
    assert len(cache) == 3  # the first batch of three entities

    asked: list[str] = []
    rerun = _remote(endpoint)
    original_rerun = rerun.select
    rerun.select = lambda q: asked.append(q) or original_rerun(q)
    facts, log = _facts(rerun, cache, batch_size=3)
    assert log["from_cache"] == 3 and log["looked_up_now"] == 5
    assert not any(f"<{e}>" in q for q in asked for e in ENTITIES[:3])  # nothing repeated
    assert len(asked) == 2

    asked.clear()
    again, log = _facts(rerun, cache, batch_size=3)
    assert asked == [] and log["from_cache"] == 8
    pd.testing.assert_frame_equal(facts, again)

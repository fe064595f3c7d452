"""The Babelfy client against a local HTTP server replaying answers in Babelfy's JSON format.

Covers: parsing (offsets, synsets, DBpedia URLs, scores), an HTTP error, the
daily-quota answer, a timeout, malformed JSON, URLs that try to inject SPARQL,
a crash midway and reruns that make no repeated calls, and a key that never
reaches a log line, an error message, the cache or the report.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from waits import scaled

from coldstart.enrichment import (
    BabelfyLinker,
    DiskCache,
    EnrichmentIncompleteError,
    QuotaExceededError,
    RemoteRequestError,
    RemoteUnavailableError,
    Secret,
    link_artists,
)

FIXTURES = Path(__file__).parent / "fixtures" / "enrichment"
RECORDED = json.loads((FIXTURES / "babelfy_responses.json").read_text(encoding="utf-8"))
BIOS: dict[str, str] = RECORDED["biographies"]
KEY = "TEST-KEY-0123456789abcdef"
DBR = "http://dbpedia.org/resource/"


#: How long the client waits for the fake server's answer (scaled, tests/waits.py).
ANSWER_S = scaled(30.0)


class FakeBabelfy:
    """Replays recorded answers by text; ``script`` overrides the next answers in order.

    Script items: ``("replay",)``, ``("json", status, payload)``, ``("raw", status, text)``,
    ``("sleep", seconds)`` (then replays).
    """

    def __init__(self) -> None:
        self.script: list[tuple] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        by_text = {BIOS[a]: RECORDED["responses"][a] for a in BIOS}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _answer(self, fields: dict[str, str]) -> None:
                with fake.lock:
                    fake.requests.append({"path": self.path, "method": self.command, **fields})
                    action = fake.script.pop(0) if fake.script else ("replay",)
                if fields.get("key") != KEY:
                    action = ("json", 403, {"message": "Wrong key"})
                if action[0] == "sleep":
                    time.sleep(action[1])
                    action = ("replay",)
                if action[0] == "replay":
                    action = ("json", 200, by_text.get(fields.get("text", "").strip(), []))
                status, body = action[1], action[2]
                data = body.encode() if action[0] == "raw" else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                self._answer({k: v[0] for k, v in form.items()})

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                self._answer({k: v[0] for k, v in query.items()})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/disambiguate"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def texts(self) -> list[str]:
        return [r.get("text") for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def babelfy():
    server = FakeBabelfy()
    yield server
    server.close()


def _linker(server: FakeBabelfy, **kwargs) -> BabelfyLinker:
    # a loopback answer takes milliseconds; the bound is for a busy machine (tests/waits.py)
    options = {"timeout_s": ANSWER_S, "max_retries": 2, "backoff_s": 0.01, "max_backoff_s": 0.02}
    return BabelfyLinker(Secret(KEY), endpoint=server.url, **{**options, **kwargs})


def _artists() -> pd.DataFrame:
    ids = list(BIOS)
    return pd.DataFrame({"artist_id": ids, "biography": [BIOS[a] for a in ids]})


def _cache_text(cache: DiskCache) -> str:
    return "".join(p.read_text() for p in cache.directory.rglob("*.json"))


# --------------------------------------------------------------------------- answers


def test_recorded_answers_become_mentions(babelfy: FakeBabelfy) -> None:
    linker = _linker(babelfy)
    mentions = linker.link(BIOS["ARBF0001"])
    text = BIOS["ARBF0001"]
    assert [(m.surface, m.entity.removeprefix(DBR)) for m in mentions] == [
        ("Mara Quill", "Mara_Quill"),
        ("saxophone", "Saxophone"),
        ("New Orleans", "New_Orleans"),  # "Orleans" inside it is dropped, "player" has no URL
        ("Brindle Hollow Records", "Brindle_Hollow_Records"),
    ]
    assert all(text[m.start : m.end] == m.surface for m in mentions)
    assert mentions[1].synset_id == "bn:00069681n" and mentions[1].score == 0.92
    assert linker.stats["no_dbpedia_url"] == 1
    (request,) = babelfy.requests
    assert request["method"] == "POST" and "key" not in request["path"]  # key in the body only
    assert request["lang"] == "EN" and request["text"] == text

    keep_all = _linker(babelfy, keep_overlapping=True, min_score=0.5)
    assert [m.surface for m in keep_all.link(text)].count("Orleans") == 0  # score 0.3 < 0.5
    assert len(_linker(babelfy, keep_overlapping=True).link(text)) == 5


def test_long_texts_are_sent_in_pieces_with_offsets_mapped_back(babelfy: FakeBabelfy) -> None:
    text = BIOS["ARBF0002"] + " " + BIOS["ARBF0003"]
    max_chars = max(len(BIOS["ARBF0002"]), len(BIOS["ARBF0003"])) + 1
    mentions = _linker(babelfy, max_chars=max_chars).link(text)
    assert babelfy.texts() == [BIOS["ARBF0002"] + " ", BIOS["ARBF0003"]]
    assert [text[m.start : m.end] for m in mentions] == [m.surface for m in mentions]
    assert {"The Copper Owls", "Night Train Suite"} <= {m.surface for m in mentions}


def test_timeout_is_retried(babelfy: FakeBabelfy) -> None:
    # the client gives up on a request that takes longer than its timeout (3 s, scaled),
    # and the retry's immediate answer arrives well within the same bound
    timeout_s = scaled(3.0)
    babelfy.script = [("sleep", 3 * timeout_s)]
    linker = _linker(babelfy, timeout_s=timeout_s)
    assert len(linker.link(BIOS["ARBF0003"])) == 3
    assert linker.stats["timeouts"] == 1 and linker.stats["requests"] == 2


def test_malformed_json_is_retried_then_gives_up(babelfy: FakeBabelfy) -> None:
    babelfy.script = [("raw", 200, '[{"charFragment": ')]
    linker = _linker(babelfy)
    assert len(linker.link(BIOS["ARBF0003"])) == 3  # second attempt succeeds
    babelfy.script = [("raw", 200, "<html>busy</html>")] * 3
    with pytest.raises(RemoteUnavailableError, match="malformed"):
        linker.link(BIOS["ARBF0003"])
    babelfy.script = [("json", 200, [{"charFragment": "nonsense"}, 7])]
    assert linker.link(BIOS["ARBF0003"]) == []
    assert linker.stats["malformed_annotations"] == 2


def test_server_errors_are_retried_client_errors_are_not(babelfy: FakeBabelfy) -> None:
    babelfy.script = [("json", 503, {"message": "busy"}), ("raw", 502, "bad gateway")]
    linker = _linker(babelfy)
    assert len(linker.link(BIOS["ARBF0003"])) == 3
    babelfy.script = [("json", 400, {"message": "Text too long"})]
    with pytest.raises(RemoteRequestError, match="Text too long"):
        linker.link(BIOS["ARBF0003"])
    assert linker.stats["requests"] == 4


def test_quota_answer_is_recognised(babelfy: FakeBabelfy) -> None:
    babelfy.script = [("json", 200, RECORDED["quota"])]
    linker = _linker(babelfy)
    with pytest.raises(QuotaExceededError, match="daily requests limit"):
        linker.link(BIOS["ARBF0001"])
    babelfy.script = [("raw", 429, "Too Many Requests")]
    with pytest.raises(QuotaExceededError):
        linker.link(BIOS["ARBF0001"])
    assert linker.stats["requests"] == 2  # no retries on a quota answer


def test_injection_urls_are_rejected(babelfy: FakeBabelfy) -> None:
    babelfy.script = [("json", 200, RECORDED["injection"])]
    linker = _linker(babelfy)
    assert linker.link("Evil Jazz") == []
    assert linker.stats["rejected_iris"] == 2


def test_missing_key_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="credentials.yml"):
        BabelfyLinker(Secret(None))
    with pytest.raises(ValueError, match="parameters"):
        BabelfyLinker(Secret(KEY), params={"key": KEY})


# --------------------------------------------------------------------------- runs over artists


def test_error_skips_one_artist_and_the_rest_goes_on(babelfy: FakeBabelfy, tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, "linking/babelfy")
    babelfy.script = [("replay",), ("json", 400, {"message": "Bad text"})]
    mentions, log = link_artists(_artists(), _linker(babelfy), cache, progress=False)
    assert log["failed_artists"] == {"ARBF0002": "HTTP 400: Bad text"}
    assert log["linked_now"] == 3 and not log["complete"]
    assert "ARBF0002" not in set(mentions["artist_id"]) and len(cache) == 3
    # a rerun only retries the failed artist
    babelfy.requests.clear()
    mentions, log = link_artists(_artists(), _linker(babelfy), cache, progress=False)
    assert babelfy.texts() == [BIOS["ARBF0002"]] and log["complete"]
    assert log["from_cache"] == 3 and log["linked_now"] == 1


def test_quota_stops_cleanly_and_a_rerun_resumes(
    babelfy: FakeBabelfy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = DiskCache(tmp_path, "linking/babelfy")
    babelfy.script = [("replay",), ("replay",), ("json", 200, RECORDED["quota"])]
    with pytest.raises(EnrichmentIncompleteError) as stop:
        link_artists(_artists(), _linker(babelfy), cache, progress=False)
    message = str(stop.value)
    assert "2 of 4 are done and cached" in message and "2 still to do" in message
    assert "quota" in message and str(cache.directory) in message
    assert len(babelfy.requests) == 3  # stopped calling after the quota answer
    assert len(cache) == 2

    babelfy.requests.clear()
    mentions, log = link_artists(_artists(), _linker(babelfy), cache, progress=False)
    assert babelfy.texts() == [BIOS["ARBF0003"], BIOS["ARBF0004"]]  # no repeated calls
    assert log["from_cache"] == 2 and log["linked_now"] == 2 and log["complete"]
    clean, _ = link_artists(
        _artists(), _linker(babelfy), DiskCache(tmp_path, "other"), progress=False
    )
    pd.testing.assert_frame_equal(mentions, clean)


def test_endpoint_down_with_allow_partial(tmp_path: Path) -> None:
    linker = BabelfyLinker(
        Secret(KEY),
        endpoint="http://127.0.0.1:9/v1/disambiguate",
        max_retries=1,
        backoff_s=0.01,
        timeout_s=1,
    )
    cache = DiskCache(tmp_path, "linking/babelfy")
    cache.put(
        "ARBF0004",
        {
            "text_sha1": __import__("hashlib").sha1(BIOS["ARBF0004"].encode()).hexdigest(),
            "mentions": [],
        },
    )
    mentions, log = link_artists(_artists(), linker, cache, allow_partial=True, progress=False)
    assert log["pending"] == 3 and log["from_cache"] == 1 and "3 still to do" in log["stopped"]
    assert linker.stats["requests"] == 2  # first artist: 1 try + 1 retry, then no more calls
    assert mentions.empty


def test_crash_midway_then_rerun_repeats_nothing(babelfy: FakeBabelfy, tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, "linking/babelfy")
    linker = _linker(babelfy)
    original, calls = linker._parse, []

    def crash_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("simulated crash")
        return original(*args, **kwargs)

    linker._parse = crash_on_third
    with pytest.raises(KeyboardInterrupt):
        link_artists(_artists(), linker, cache, progress=False)
    assert len(cache) == 2 and not list(cache.directory.rglob(".tmp-*"))

    babelfy.requests.clear()
    _, log = link_artists(_artists(), _linker(babelfy), cache, progress=False)
    # ARBF0003's answer had arrived when the run crashed: it is cached per request
    assert babelfy.texts() == [BIOS["ARBF0004"]]
    assert log["from_cache"] == 2 and log["linked_now"] == 2

    babelfy.requests.clear()
    changed = _artists()
    changed.loc[0, "biography"] = BIOS["ARBF0001"] + " Updated."
    link_artists(changed, _linker(babelfy), cache, progress=False)
    assert babelfy.texts() == [changed.loc[0, "biography"]]  # only the changed text


def test_the_key_never_leaks(
    babelfy: FakeBabelfy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cache = DiskCache(tmp_path, "linking/babelfy")
    babelfy.script = [("json", 503, {"message": "down"}), ("replay",), ("json", 400, {})]
    _, log = link_artists(_artists(), _linker(babelfy, method="GET"), cache, progress=False)
    errors = []
    for endpoint in ("http://127.0.0.1:9/v1/disambiguate", babelfy.url):
        linker = BabelfyLinker(
            Secret(KEY), endpoint=endpoint, method="GET", max_retries=0, timeout_s=ANSWER_S
        )
        babelfy.script = [("json", 200, {"message": f"limit reached for key {KEY}"})]
        try:
            linker.link("some text")
        except RemoteUnavailableError as exc:
            errors.append(f"{exc!r} {exc} {exc.__cause__!r} {exc.__context__!r}")
        errors.append(repr(linker) + json.dumps(linker.fingerprint()))
    assert len(errors) == 4
    everything = caplog.text + json.dumps(log) + _cache_text(cache) + " ".join(errors)
    assert KEY not in everything
    assert any(r["key"] == KEY for r in babelfy.requests)  # it was sent, though


def test_node_with_babelfy_configured_caches_and_resumes(
    babelfy: FakeBabelfy, tmp_path: Path
) -> None:
    from coldstart.pipelines.semantic_enrichment.nodes import link_entities

    params = {
        "linker": {
            "type": "babelfy",
            "babelfy": {"endpoint": babelfy.url, "max_retries": 0, "timeout_s": ANSWER_S},
        },
        "knowledge_base": {"type": "embedded"},
        "cache": {"dir": str(tmp_path / "cache")},
        "progress_bar": False,
    }
    missing_ttl = tmp_path / "no_kb.ttl"  # Babelfy needs no KB to link
    with pytest.raises(ValueError, match="credentials.yml"):
        link_entities(_artists(), missing_ttl, Secret(None), params)
    mentions, log = link_entities(_artists(), missing_ttl, Secret(KEY), params)
    assert log["linked_now"] == 4 and len(babelfy.requests) == 4
    assert set(mentions["artist_id"]) == {"ARBF0001", "ARBF0002", "ARBF0003"}
    (config_file,) = (tmp_path / "cache" / "linking").glob("babelfy-*/_config.json")
    assert babelfy.url in config_file.read_text() and KEY not in config_file.read_text()

    again, log = link_entities(_artists(), missing_ttl, Secret(KEY), params)
    assert len(babelfy.requests) == 4 and log["from_cache"] == 4  # no new calls
    pd.testing.assert_frame_equal(mentions, again)

"""coldstart.jit: numba's disk cache where it can be written, and a word when compiling."""

from __future__ import annotations

import logging
import threading

import pytest
from waits import scaled

from coldstart import jit


def _add_one(x):
    return x + 1


@pytest.fixture
def no_cache_dir(monkeypatch):
    """Every numba cache locator finds its directory unwritable (a read-only install)."""
    from numba.core import caching

    def unwritable(self):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(caching._CacheLocator, "ensure_cache_path", unwritable)
    monkeypatch.setattr(jit, "_warned", set())


def test_plain_numba_refuses_to_cache_without_a_writable_directory(no_cache_dir):
    import numba

    with pytest.raises(RuntimeError, match="no locator available"):
        numba.njit(cache=True)(_add_one)


def test_kernels_compile_without_a_cache_and_one_warning_when_none_is_writable(
    no_cache_dir, caplog
):
    caplog.set_level(logging.WARNING, logger="coldstart.jit")
    add_one = jit.njit(_add_one)
    also = jit.njit(nogil=True)(_add_one)
    assert add_one(41) == 42 and also(1.5) == 2.5
    warnings = [r.getMessage() for r in caplog.records if r.name == "coldstart.jit"]
    assert len(warnings) == 1 and "NUMBA_CACHE_DIR" in warnings[0]


def test_kernels_are_cached_where_a_directory_is_writable(tmp_path, monkeypatch):
    from numba.core import config

    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path))
    add_one = jit.njit(_add_one)
    assert add_one(1) == 2
    assert list(tmp_path.rglob("*.nbi")), "numba wrote no cache index"


def test_a_slow_compile_is_announced_and_timed(caplog):
    caplog.set_level(logging.INFO, logger="test.jit")
    announced = threading.Event()

    class Seen(logging.Handler):
        def emit(self, record):
            announced.set()

    log = logging.getLogger("test.jit")
    handler = Seen()
    log.addHandler(handler)
    try:
        with jit.compile_notice("the triplet reader", "~30 s", after_s=0.0, log=log):
            assert announced.wait(scaled(300))  # the block outlives after_s: the line comes first
    finally:
        log.removeHandler(handler)
    lines = [r.getMessage() for r in caplog.records if r.name == "test.jit"]
    assert lines[0].startswith("Compiling the triplet reader (~30 s; once per install")
    assert lines[1].startswith("Compiled the triplet reader in ")
    assert len(lines) == 2


def test_a_block_served_from_the_cache_says_nothing(caplog):
    caplog.set_level(logging.INFO, logger="test.jit")
    log = logging.getLogger("test.jit")
    with jit.compile_notice("the triplet reader", "~30 s", after_s=600.0, log=log):
        pass
    assert not [r for r in caplog.records if r.name == "test.jit"]

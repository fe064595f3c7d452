"""coldstart.progress: periodic progress lines, driven by a fake clock (no sleeping)."""

from __future__ import annotations

import logging

import pytest

from coldstart.progress import ProgressLog, duration


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "test.progress"]


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO, logger="test.progress")
    return logging.getLogger("test.progress")


def test_a_long_loop_logs_every_period_with_the_time_left_and_a_closing_line(caplog, log):
    clock = FakeClock()
    with ProgressLog(
        1000, "evaluation of mm", unit="users", every_s=30, logger=log, clock=clock
    ) as p:
        for _ in range(10):
            clock.now += 10  # 100 users every 10 s
            p.advance(100)
    lines = _lines(caplog)
    # lines at 30, 60 and 90 s (300, 600, 900 users), then the closing line at 100 s
    assert lines == [
        "evaluation of mm: 300 / 1,000 users (30 %), 30 s elapsed, about 1 min 10 s left",
        "evaluation of mm: 600 / 1,000 users (60 %), 1 min 0 s elapsed, about 40 s left",
        "evaluation of mm: 900 / 1,000 users (90 %), 1 min 30 s elapsed, about 10 s left",
        "evaluation of mm: 1,000 / 1,000 users done in 1 min 40 s",
    ]


def test_a_quick_loop_leaves_nothing_in_the_log(caplog, log):
    clock = FakeClock()
    with ProgressLog(50, "tiny", every_s=30, logger=log, clock=clock) as p:
        for _ in range(50):
            clock.now += 0.5
            p.advance()
    assert _lines(caplog) == []
    assert p.lines == 0


def test_at_most_one_line_per_period_however_often_it_is_updated(caplog, log):
    clock = FakeClock()
    p = ProgressLog(10_000, "x", every_s=30, logger=log, clock=clock)
    for step in range(1, 361):
        clock.now += 0.25  # 90 s in all (exact binary steps)
        p.update(25 * step)
    assert len(_lines(caplog)) == 3  # at 30, 60, 90 s
    p.close()
    p.close()  # a second close writes nothing more
    lines = _lines(caplog)
    assert len(lines) == 4 and lines[-1] == "x: 9,000 / 10,000 items done in 1 min 30 s"


def test_one_slow_step_gives_the_closing_line_only(caplog, log):
    clock = FakeClock()
    with ProgressLog(1, "one batch", every_s=30, logger=log, clock=clock) as p:
        clock.now += 45
        p.update(1)  # the end: reported by the closing line, not twice
    assert _lines(caplog) == ["one batch: 1 / 1 items done in 45 s"]


def test_no_closing_line_when_the_loop_fails(caplog, log):
    clock = FakeClock()
    with pytest.raises(RuntimeError), ProgressLog(10, "x", every_s=1, logger=log, clock=clock) as p:
        clock.now += 2
        p.update(5)
        raise RuntimeError("boom")
    assert len(_lines(caplog)) == 1 and "5 / 10" in _lines(caplog)[0]


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="total"):
        ProgressLog(-1, "x")
    with pytest.raises(ValueError, match="every_s"):
        ProgressLog(1, "x", every_s=0)


def test_duration_reads_like_a_person_would_say_it():
    assert duration(0.4) == "0 s"
    assert duration(59.4) == "59 s"
    assert duration(61) == "1 min 1 s"
    assert duration(3 * 3600 + 20 * 60 + 10) == "3 h 20 min"
    assert duration(-3) == "0 s"


def test_a_disabled_log_writes_nothing_however_long(caplog, log):
    clock = FakeClock()
    with ProgressLog(10, "x", every_s=1, logger=log, clock=clock, enabled=False) as p:
        for done in range(1, 11):
            clock.now += 5
            p.update(done)
    assert _lines(caplog) == [] and p.done == 10

"""Rows are wired from the running session's parameters when there is one."""

from __future__ import annotations

from coldstart.rows import load_rows, use_session_parameters


def test_session_parameters_replace_the_project_conf_and_can_be_reset():
    from_conf = load_rows()
    assert "a_sem" in from_conf
    try:
        use_session_parameters(
            {
                "only_row": {"row": {"table": "artist", "template": "text_ff", "approach": "x"}},
                "seed": 1,
            }
        )
        assert list(load_rows()) == ["only_row"]
    finally:
        use_session_parameters(None)
    assert load_rows() == from_conf

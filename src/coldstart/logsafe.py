"""Text from outside (raw records, remote answers, paths) made safe to put into a log line.

Kedro's rich log handler reads ``[...]`` in a message as markup: a triplet, a
biography, a tag or a Babelfy answer containing ``[/x]`` would make the log call
itself raise (and a rerun raise again). Every message that quotes input passes
it through :func:`quoted` (a record, shown as ``repr``) or :func:`plain` (a path,
an error message); the same goes for exception messages that quote input, since
Kedro logs a failed node's error through the same handler.
"""

from __future__ import annotations

_QUOTED_CHARS = 200  # a quoted record is cut to this many characters


def plain(value: object) -> str:
    """``str(value)`` with rich markup escaped."""
    from rich.markup import escape

    return escape(str(value))


def quoted(value: object, limit: int = _QUOTED_CHARS) -> str:
    """``repr`` of a piece of input (a ``str`` cut to ``limit`` characters), markup escaped."""
    from rich.markup import escape

    if isinstance(value, str):
        value = value[:limit]
    return escape(repr(value))

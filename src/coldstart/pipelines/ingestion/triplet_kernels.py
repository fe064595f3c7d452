"""Compiled kernels that turn Taste Profile triplet text into integer codes.

Why this is kept rather than ``pyarrow.csv``: ``benchmarks/bench_ingestion.py`` runs
both (and pandas) on the same file, each followed by the same CSR build. On 3 M lines
(random order, 2 shared vCPUs at load average 10-12, nice 15; two runs) this reader
took 3.8 s and 4.3 s end to end, ``pyarrow.csv.read_csv`` with Arrow's dictionary
encoding of the ids 21.1 s and 10.1 s: 2.3-5.6x faster, at 0.8-1.1x pyarrow's peak
memory, with the same matrix. The cost is the kernels' compilation, paid once per
machine and again after any edit of this file (numba's disk cache is keyed on it):
20-35 s on a quiet machine (see below), 173 s in the second run above, under that load. Loading
the cached kernels took 1.8 s in the first. Arrow also drops only what it cannot
parse, where this reader tells malformed lines from non-integer and non-positive
counts, keeps samples of each and counts the users named only by dropped lines
(``docs/ingestion.md``). The runs are in ``benchmarks/README.md``.

``encode_block`` makes one pass over a block of whole lines: it finds the tabs
and newlines eight bytes at a time, hashes both ids in the same pass, looks
them up in open-addressing tables, and parses the play count. Blocks run on
several threads (the kernels release the GIL), each thread with its own tables
kept from block to block; ``TripletEncoder.merge`` then gives each thread's new
ids their global codes (``IdInterner``), so an id is looked up globally once
per thread and every line's ids are hashed once.

A dropped line whose first field is a plausible user id (the line has a tab,
and the field before it is non-empty once trimmed, as a kept line's user id
must be) has that id put in a third per-thread table, merged the same way into
``TripletEncoder.invalid_users``: the users named only by dropped lines can then
be counted (``users_only_in_invalid_lines``), not lost. That work is on the
dropped-line branch only; the kept lines' path and codes are unchanged.

Ids are identified by a 128-bit hash, of which the tables keep 96 bits, and
not by comparing their bytes: that comparison would cost a cache miss per line
at a random place of the block, more than everything else. With ``n`` distinct
ids the chance that any two share a key is about ``n**2 / 2**97`` (1e-17 for
the Taste Profile's 1.4 million ids); ClickHouse's ``uniqExact`` on strings
makes the same trade with 128-bit SipHash.

Imported by ``read_play_triplets`` only, so numba loads when triplets are read.
The entry kernels are cached on disk by numba after their first compilation
(``coldstart.jit.njit``: next to this module, else in the user's cache directory
or ``NUMBA_CACHE_DIR``; without a cache, and a warning, where none is writable).
That first compilation takes 20-35 s; ``read_play_triplets`` says so in the log.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from coldstart.jit import njit as cached_njit

KEPT, MALFORMED, NON_INTEGER, NON_POSITIVE = 0, 1, 2, 3
REASONS = ("kept", "malformed_line", "non_integer_count", "non_positive_count")
SAMPLES_PER_REASON = 3  # (line index, start, end) of the first few dropped lines

_FIRST_SLOTS = 1 << 12
_FIRST_INVALID_SLOTS = 1 << 6  # users of dropped lines: few, usually
_SHORTEST_LINE = 5  # "u\ts\t1" (the last line may lack its newline)
# two multiply lanes with different constants and word rotations, then splitmix64
_LANE_A = np.uint64(0x9E3779B97F4A7C15)
_LANE_B = np.uint64(0xC2B2AE3D27D4EB4F)
_SEED_A = np.uint64(0x243F6A8885A308D3)
_SEED_B = np.uint64(0x13198A2E03707344)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_TAG = np.uint64(0xFFFFFFFF00000000)  # a slot is (hash a, top half of hash b | code + 1)
_CODE = np.uint64(0x00000000FFFFFFFF)
_ONES = np.uint64(0x0101010101010101)
_HIGHS = np.uint64(0x8080808080808080)
_TABS = np.uint64(0x0909090909090909)
_NEWLINES = np.uint64(0x0A0A0A0A0A0A0A0A)


@njit(inline="always")
def _is_space(byte: np.uint8) -> bool:
    return byte == 32 or (byte >= 9 and byte <= 13)


@njit(inline="always")
def _trimmed(data: np.ndarray, start: int, end: int) -> tuple[int, int]:
    while start < end and _is_space(data[start]):
        start += 1
    while end > start and _is_space(data[end - 1]):
        end -= 1
    return start, end


@njit(inline="always")
def _splitmix(h: np.uint64) -> np.uint64:
    h ^= h >> np.uint64(30)
    h *= _MIX_1
    h ^= h >> np.uint64(27)
    h *= _MIX_2
    return h ^ (h >> np.uint64(31))


@njit(inline="always")
def _word(data: np.ndarray, p: int) -> np.uint64:
    """The 8 bytes at ``data[p:p+8]``, little-endian (LLVM makes this one load)."""
    at = np.uintp(p)  # unsigned: no negative-index wraparound check per byte
    word = np.uint64(0)
    for k in range(8):
        word |= np.uint64(data[at + np.uintp(k)]) << np.uint64(8 * k)
    return word


@njit(inline="always")
def _absorb(a: np.uint64, b: np.uint64, word: np.uint64) -> tuple[np.uint64, np.uint64]:
    """One 8-byte step of both hash lanes."""
    rotated = (word << np.uint64(29)) | (word >> np.uint64(35))
    return (a ^ word) * _LANE_A, (b ^ rotated) * _LANE_B


@njit(inline="always")
def _finish(a: np.uint64, b: np.uint64, length: int) -> tuple[np.uint64, np.uint64]:
    n = np.uint64(length)  # tells "ab" from "ab\0": the last word is zero-padded
    return _splitmix(a ^ n), _splitmix(b + n)


@njit(inline="always")
def _hash(data: np.ndarray, start: int, end: int) -> tuple[np.uint64, np.uint64]:
    """128-bit hash of ``data[start:end]`` as two 64-bit halves, 8 bytes a step."""
    a = _SEED_A
    b = _SEED_B
    p = start
    while p < end:
        if p + 8 <= end:
            word = _word(data, p)
        else:
            word = np.uint64(0)
            for k in range(end - p):
                word |= np.uint64(data[p + k]) << np.uint64(8 * k)
        a, b = _absorb(a, b, word)
        p += 8
    return _finish(a, b, end - start)


@njit(inline="always")
def _separators(word: np.uint64) -> np.uint64:
    """High bit set in the bytes of ``word`` equal to tab or newline.

    The usual has-zero-byte test on ``word ^ 0x0909..`` and ``word ^ 0x0a0a..``;
    only bits above the first match can be spurious.
    """
    tab = word ^ _TABS
    newline = word ^ _NEWLINES
    return (((tab - _ONES) & ~tab) | ((newline - _ONES) & ~newline)) & _HIGHS


@njit(inline="always")
def _hashed_field(data: np.ndarray, p: int, end: int) -> tuple[int, np.uint64, np.uint64]:
    """``(separator, hash)`` of the field from ``p`` to the next tab or newline (or ``end``).

    Finds the separator and hashes the bytes before it in the same pass; the
    hash equals ``_hash(data, p, separator)``.
    """
    start = p
    a = _SEED_A
    b = _SEED_B
    while p + 8 <= end:
        word = _word(data, p)
        found = _separators(word)
        if found:
            n_bytes = np.int64(trailing_zeros(found) >> np.uint64(3))
            if n_bytes:
                word &= (np.uint64(1) << np.uint64(8 * n_bytes)) - np.uint64(1)
                a, b = _absorb(a, b, word)
            p += n_bytes
            a, b = _finish(a, b, p - start)
            return p, a, b
        a, b = _absorb(a, b, word)
        p += 8
    word = np.uint64(0)
    n_bytes = 0
    while p < end and data[p] != 9 and data[p] != 10:
        word |= np.uint64(data[p]) << np.uint64(8 * n_bytes)
        n_bytes += 1
        p += 1
    if n_bytes:
        a, b = _absorb(a, b, word)
    a, b = _finish(a, b, p - start)
    return p, a, b


@njit(inline="always")
def _next_separator(data: np.ndarray, p: int, end: int) -> int:
    """Position of the first tab or newline in ``data[p:end]``, or ``end``; 8 bytes a step."""
    while p + 8 <= end:
        found = _separators(_word(data, p))
        if found:
            return p + np.int64(trailing_zeros(found) >> np.uint64(3))
        p += 8
    while p < end and data[p] != 9 and data[p] != 10:
        p += 1
    return p


@njit(inline="always")
def _probe(slots: np.ndarray, a: np.uint64, b: np.uint64) -> tuple[int, int]:
    """``(slot, code)`` of the key ``(a, b)``; code -1 and the free slot if absent."""
    mask = np.uint64(len(slots) - 1)
    i = np.int64(a & mask)
    tag = b & _TAG
    while True:
        tagged = slots[i, 1]
        if tagged == 0:
            return i, -1
        if slots[i, 0] == a and (tagged & _TAG) == tag:
            return i, np.int64(tagged & _CODE) - 1
        i = np.int64((np.uint64(i) + np.uint64(1)) & mask)


@njit(inline="always")
def _fill(slots: np.ndarray, i: int, a: np.uint64, b: np.uint64, code: int) -> None:
    slots[i, 0] = a
    slots[i, 1] = (b & _TAG) | np.uint64(code + 1)


@njit
def _grown(slots: np.ndarray, hashes: np.ndarray, n_codes: int) -> np.ndarray:
    """The table with twice the slots, holding codes ``0..n_codes-1`` of ``hashes``."""
    bigger = np.zeros((2 * len(slots), 2), np.uint64)
    for code in range(n_codes):
        i, _ = _probe(bigger, hashes[code, 0], hashes[code, 1])
        _fill(bigger, i, hashes[code, 0], hashes[code, 1], code)
    return bigger


@njit(inline="always")
def _parse_count(data: np.ndarray, start: int, end: int) -> tuple[int, int]:
    """``(reason, value)`` of a count field: an optionally signed integer of 1-9 digits."""
    start, end = _trimmed(data, start, end)
    negative = False
    if start < end and (data[start] == 43 or data[start] == 45):  # + or -
        negative = data[start] == 45
        start += 1
    if end - start < 1 or end - start > 9:
        return NON_INTEGER, 0
    value = 0
    for q in range(start, end):
        digit = np.int64(data[q]) - 48
        if digit < 0 or digit > 9:
            return NON_INTEGER, 0
        value = value * 10 + digit
    if negative or value == 0:
        return NON_POSITIVE, 0
    return KEPT, value


@cached_njit(nogil=True)
def encode_block(
    data: np.ndarray,
    begin: int,
    end: int,
    user_table: tuple,
    song_table: tuple,
    invalid_user_table: tuple,
) -> tuple:
    """Parse the lines of ``data[begin:end]`` (whole lines) into codes of the given tables.

    A table is ``(slots, starts, lengths, hashes, n_codes)``: an open-addressing
    index and, per code, where its id first occurred in ``data`` and its hash.
    ``invalid_user_table`` collects the user ids of the dropped lines that have
    one (``_split_lines``).
    Returns ``(user_codes, song_codes, plays, user_table, song_table,
    invalid_user_table, n_lines, n_blank, counts, samples)``: the codes and
    counts of the kept lines; the tables with the block's new ids added (arrays
    may have been reallocated); the number of lines and of blank lines; the
    lines per reason; and per reason ``(line index, start, end)`` of the first
    dropped lines.
    """
    starts, lengths, hashes, plays, n_kept, n_lines, n_blank, counts, samples, invalid = (
        _split_lines(data, begin, end)
    )
    user_codes, user_table = _codes(starts[0], lengths[0], hashes[0], n_kept, user_table)
    song_codes, song_table = _codes(starts[1], lengths[1], hashes[1], n_kept, song_table)
    invalid_starts, invalid_lengths, invalid_hashes, n_invalid = invalid
    _, invalid_user_table = _codes(
        invalid_starts, invalid_lengths, invalid_hashes, n_invalid, invalid_user_table
    )
    return (
        user_codes, song_codes, plays[:n_kept], user_table, song_table, invalid_user_table,
        n_lines, n_blank, counts, samples,
    )  # fmt: skip


@njit(inline="always")
def _split_lines(data: np.ndarray, begin: int, end: int) -> tuple:
    """Fields of the kept lines: id ``(start, length, hash)`` per field, and play counts.

    The arrays are over-allocated; the first ``n_kept`` entries are valid. The
    last item, ``(starts, lengths, hashes, n)``, is the user field of each
    dropped line that has one: a tab ends it and it is non-empty once trimmed
    (lines of two or of four or more fields, an empty song id, a bad count).
    Those arrays start small and double as needed: dropped lines are rare.
    """
    capacity = (end - begin) // _SHORTEST_LINE + 1
    starts = np.empty((2, capacity), np.int64)  # user, song
    lengths = np.empty((2, capacity), np.int32)
    hashes = np.empty((2, capacity, 2), np.uint64)
    plays = np.empty(capacity, np.int32)
    counts = np.zeros(4, np.int64)
    samples = np.full((4, SAMPLES_PER_REASON, 3), -1, np.int64)
    tabs = np.empty(2, np.int64)
    bounds = np.empty((2, 2), np.int64)
    field_hashes = np.empty((2, 2), np.uint64)  # of the untrimmed id fields
    invalid_starts = np.empty(16, np.int64)
    invalid_lengths = np.empty(16, np.int32)
    invalid_hashes = np.empty((16, 2), np.uint64)
    n_invalid = 0
    n_kept = 0
    n_lines = 0
    n_blank = 0
    p = begin
    while p < end:
        line_start = p
        n_tabs = 0
        while True:
            if n_tabs < 2:
                p, field_hashes[n_tabs, 0], field_hashes[n_tabs, 1] = _hashed_field(data, p, end)
            else:
                p = _next_separator(data, p, end)
            if p == end or data[p] != 9:
                break
            if n_tabs < 2:
                tabs[n_tabs] = p
            n_tabs += 1
            p += 1
        line_end = p
        p += 1
        line = n_lines
        n_lines += 1
        reason = MALFORMED
        value = 0
        if n_tabs == 2:
            bounds[0, 0], bounds[0, 1] = _trimmed(data, line_start, tabs[0])
            bounds[1, 0], bounds[1, 1] = _trimmed(data, tabs[0] + 1, tabs[1])
            if bounds[0, 0] < bounds[0, 1] and bounds[1, 0] < bounds[1, 1]:
                reason, value = _parse_count(data, tabs[1] + 1, line_end)
        elif n_tabs == 0:
            s, e = _trimmed(data, line_start, line_end)
            if s == e:
                n_blank += 1
                continue
        counts[reason] += 1
        if reason != KEPT:
            k = counts[reason] - 1
            if k < SAMPLES_PER_REASON:
                samples[reason, k, 0] = line
                samples[reason, k, 1] = line_start
                samples[reason, k, 2] = line_end
            if n_tabs == 0:  # no field ends: no user id to tell
                continue
            s, e = _trimmed(data, line_start, tabs[0])
            if s == e:
                continue
            if n_invalid == len(invalid_starts):
                invalid_starts = _resized(invalid_starts, 2 * n_invalid)
                invalid_lengths = _resized(invalid_lengths, 2 * n_invalid)
                invalid_hashes = _resized(invalid_hashes, 2 * n_invalid)
            invalid_starts[n_invalid] = s
            invalid_lengths[n_invalid] = e - s
            if s == line_start and e == tabs[0]:
                invalid_hashes[n_invalid, 0] = field_hashes[0, 0]
                invalid_hashes[n_invalid, 1] = field_hashes[0, 1]
            else:
                invalid_hashes[n_invalid, 0], invalid_hashes[n_invalid, 1] = _hash(data, s, e)
            n_invalid += 1
            continue
        for field in range(2):
            s = bounds[field, 0]
            e = bounds[field, 1]
            starts[field, n_kept] = s
            lengths[field, n_kept] = e - s
            untrimmed = s == (line_start if field == 0 else tabs[0] + 1) and e == tabs[field]
            if untrimmed:
                hashes[field, n_kept, 0] = field_hashes[field, 0]
                hashes[field, n_kept, 1] = field_hashes[field, 1]
            else:  # surrounding whitespace: hash the id itself
                hashes[field, n_kept, 0], hashes[field, n_kept, 1] = _hash(data, s, e)
        plays[n_kept] = value
        n_kept += 1
    invalid = (invalid_starts, invalid_lengths, invalid_hashes, n_invalid)
    return starts, lengths, hashes, plays, n_kept, n_lines, n_blank, counts, samples, invalid


@njit(inline="always")
def _codes(
    starts: np.ndarray, lengths: np.ndarray, hashes: np.ndarray, n: int, table: tuple
) -> tuple:
    """Codes of ``n`` hashed ids in ``table``, adding the ids it does not hold yet.

    A loop of lookups only, apart from the parsing: the processor then has
    several table misses in flight at once.
    """
    slots, code_start, code_length, code_hashes, n_codes = table
    if n_codes + n > len(code_start):  # room for every id being new, so no growth in the loop
        size = max(2 * len(code_start), n_codes + n)
        code_start = _resized(code_start, size)
        code_length = _resized(code_length, size)
        code_hashes = _resized(code_hashes, size)
    codes = np.empty(n, np.int32)
    previous = -1
    for j in range(n):
        a = hashes[j, 0]
        b = hashes[j, 1]
        # the Taste Profile lists each user's plays together: no lookup then
        if previous >= 0 and hashes[previous, 0] == a and hashes[previous, 1] == b:
            codes[j] = codes[previous]
            continue
        i, code = _probe(slots, a, b)
        if code < 0:
            code = n_codes
            _fill(slots, i, a, b, code)
            code_start[code] = starts[j]
            code_length[code] = lengths[j]
            code_hashes[code, 0] = a
            code_hashes[code, 1] = b
            n_codes += 1
            if 2 * n_codes > len(slots):  # keep the load factor under 1/2
                slots = _grown(slots, code_hashes, n_codes)
        codes[j] = code
        previous = j
    return codes, (slots, code_start, code_length, code_hashes, n_codes)


@njit
def _resized(array: np.ndarray, size: int) -> np.ndarray:
    bigger = np.empty((size,) + array.shape[1:], array.dtype)
    bigger[: len(array)] = array
    return bigger


def _new_table(n_slots: int = _FIRST_SLOTS) -> tuple:
    """An empty table of ``encode_block``; ``n_slots`` is a power of two."""
    return (
        np.zeros((n_slots, 2), np.uint64),
        np.empty(n_slots, np.int64),
        np.empty(n_slots, np.int32),
        np.empty((n_slots, 2), np.uint64),
        0,
    )


def _new_tables() -> tuple:
    """A thread's users, songs and users-of-dropped-lines tables."""
    return _new_table(), _new_table(), _new_table(_FIRST_INVALID_SLOTS)


@cached_njit(nogil=True)
def _absent(slots: np.ndarray, hashes: np.ndarray, n: int) -> np.ndarray:
    """Whether each of the first ``n`` keys ``hashes[j]`` is absent from ``slots``."""
    absent = np.empty(n, np.bool_)
    for j in range(n):
        absent[j] = _probe(slots, hashes[j, 0], hashes[j, 1])[1] < 0
    return absent


@cached_njit(nogil=True)
def _intern(
    data: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    hashes: np.ndarray,
    slots: np.ndarray,
    code_hashes: np.ndarray,
    pool: np.ndarray,
    offsets: np.ndarray,
    n_codes: int,
) -> tuple:
    """Global codes of the ids ``data[starts[j]:starts[j]+lengths[j]]``, adding new ones.

    ``pool[offsets[c]:offsets[c+1]]`` holds id ``c``. The arrays grow (at
    least doubling) before the loop; the (possibly new) arrays are returned.
    """
    n = len(starts)
    if n_codes + n + 1 > len(offsets):  # room for every id being new: no growth in the loop
        size = max(2 * len(offsets), n_codes + n + 1)
        offsets = _resized(offsets, size)
        code_hashes = _resized(code_hashes, size)
    if offsets[n_codes] + lengths.sum() > len(pool):
        pool = _resized(pool, max(2 * len(pool), offsets[n_codes] + lengths.sum()))
    codes = np.empty(n, np.int32)
    for j in range(n):
        a = hashes[j, 0]
        b = hashes[j, 1]
        i, code = _probe(slots, a, b)
        if code < 0:
            code = n_codes
            s = starts[j]
            length = lengths[j]
            pool_end = offsets[code]
            pool[pool_end : pool_end + length] = data[s : s + length]
            offsets[code + 1] = pool_end + length
            code_hashes[code, 0] = a
            code_hashes[code, 1] = b
            _fill(slots, i, a, b, code)
            n_codes += 1
            if 2 * n_codes > len(slots):
                slots = _grown(slots, code_hashes, n_codes)
        codes[j] = code
    return codes, slots, code_hashes, pool, offsets, n_codes


class IdInterner:
    """Global id table: distinct ids -> dense codes in order of first appearance."""

    def __init__(self) -> None:
        self.slots = np.zeros((_FIRST_SLOTS, 2), np.uint64)
        self.code_hashes = np.empty((_FIRST_SLOTS, 2), np.uint64)
        self.pool = np.empty(1 << 16, np.uint8)
        self.offsets = np.zeros(_FIRST_SLOTS + 1, np.int64)
        self.n_codes = 0

    def intern(
        self, data: np.ndarray, ids: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> np.ndarray:
        """Global codes of a block's distinct ids ``(starts, lengths, hashes)`` in ``data``."""
        codes, self.slots, self.code_hashes, self.pool, self.offsets, self.n_codes = _intern(
            data, *ids, self.slots, self.code_hashes, self.pool, self.offsets, self.n_codes
        )
        return codes

    def ids(self) -> Any:
        """The distinct ids as an Arrow ``large_binary`` array, in code order (zero-copy)."""
        import pyarrow as pa

        n = self.n_codes
        return pa.Array.from_buffers(
            pa.large_binary(),
            n,
            [None, pa.py_buffer(self.offsets[: n + 1]), pa.py_buffer(self.pool[: self.offsets[n]])],
        )

    def not_in(self, other: IdInterner) -> np.ndarray:
        """Whether each of this table's ids, in code order, is absent from ``other``."""
        return _absent(other.slots, self.code_hashes, self.n_codes)


class TripletEncoder:
    """Blocks of triplet lines -> global user and song codes, with blocks on several threads.

    ``parse`` runs on worker threads; each thread keeps its own id tables from
    one block to the next, so an id is looked up in the global tables once per
    thread rather than once per block. ``merge`` runs on one thread, taking the
    blocks in file order: global codes are then in order of first appearance.

    ``invalid_users`` gathers the user ids of dropped lines (those with a
    plausible user field, ``_split_lines``) in the same way, in a table of their
    own, so the kept lines' codes do not depend on them.
    """

    def __init__(self) -> None:
        self.users, self.songs = IdInterner(), IdInterner()
        self.invalid_users = IdInterner()
        self._local = threading.local()
        self._to_global: dict[tuple[int, int], np.ndarray] = {}

    def parse(self, data: np.ndarray, begin: int, end: int) -> tuple:
        """Parse ``data[begin:end]`` with this thread's tables (any worker thread)."""
        tables = getattr(self._local, "tables", None) or _new_tables()
        parsed = encode_block(data, begin, end, *tables)
        self._local.tables = parsed[3:6]
        new_ids = [
            tuple(column[before[4] : after[4]] for column in after[1:4])
            for before, after in zip(tables, parsed[3:6], strict=True)
        ]
        return (threading.get_ident(), *parsed[:3], *new_ids, *parsed[6:])

    def merge(self, data: np.ndarray, parsed: tuple) -> tuple:
        """``(users, songs, plays, n_lines, n_blank, counts, samples)`` of a parsed block.

        Blocks must be merged in file order.
        """
        thread, user_codes, song_codes, plays, new_users, new_songs, new_invalid, *rest = parsed
        self.invalid_users.intern(data, new_invalid)  # which ids only: their codes are not used
        codes = []
        for field, (local_codes, new_ids, interner) in enumerate(
            [(user_codes, new_users, self.users), (song_codes, new_songs, self.songs)]
        ):
            known = self._to_global.get((thread, field), np.zeros(0, np.int32))
            to_global = np.concatenate((known, interner.intern(data, new_ids)))
            self._to_global[thread, field] = to_global
            codes.append(to_global[local_codes])
        return (*codes, plays.copy(), *rest)  # plays is a view of a larger buffer otherwise

    def users_only_in_invalid_lines(self) -> Any:
        """The user ids of dropped lines that no kept line has (Arrow ``large_binary``).

        In order of first appearance; call once every block is merged.
        """
        import pyarrow as pa

        return self.invalid_users.ids().filter(pa.array(self.invalid_users.not_in(self.users)))


def warm_up() -> None:
    """Load (or compile, the first time) the kernels: numba's start-up, paid once per process."""
    empty = np.frombuffer(b"", np.uint8)  # read-only, as a memory-mapped file is
    encode_block(empty, 0, 0, *_new_tables())
    interner = IdInterner()
    interner.intern(
        empty, (np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros((0, 2), np.uint64))
    )
    interner.not_in(interner)

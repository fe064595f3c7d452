"""The compiled triplet reader against a plain-Python reading of the same rules."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from coldstart.pipelines.ingestion import triplet_kernels as kernels
from coldstart.pipelines.ingestion.nodes import read_play_triplets


def reference_read(raw: bytes) -> tuple[Counter, Counter, int]:
    """Plays per (user, song), lines per reason, and blank lines, line by line in Python."""
    plays: Counter = Counter()
    reasons: Counter = Counter()
    blank = 0
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for line in lines:
        if not line.strip():
            blank += 1
            continue
        fields = line.split(b"\t")
        if len(fields) != 3 or not fields[0].strip() or not fields[1].strip():
            reasons["malformed_line"] += 1
            continue
        count = fields[2].strip()
        digits = count[1:] if count[:1] in (b"+", b"-") else count
        if not (1 <= len(digits) <= 9 and digits.isdigit()):
            reasons["non_integer_count"] += 1
            continue
        if int(count) <= 0:
            reasons["non_positive_count"] += 1
            continue
        user = fields[0].strip().decode("utf-8", "replace")
        song = fields[1].strip().decode("utf-8", "replace")
        plays[user, song] += int(count)
    return plays, reasons, blank


def summed(triplets: dict) -> Counter:
    plays: Counter = Counter()
    for u, s, c in zip(triplets["user"], triplets["song"], triplets["plays"], strict=True):
        plays[triplets["user_ids"][u], triplets["song_ids"][s]] += int(c)
    return plays


def messy_file(rng: np.random.Generator, n_lines: int) -> bytes:
    """Valid lines of ids of every length around 8-byte words, and every kind of dirt."""
    users = [bytes(rng.choice(list(b"0123456789abcdef"), n)) for n in rng.integers(1, 45, 60)]
    songs = [b"SO" + bytes(rng.choice(list(b"ABCXYZ0189"), n)) for n in rng.integers(0, 20, 40)]
    dirt = [
        b"",
        b"   ",
        b"only one field",
        b"u\ts",
        b"u\ts\t1\textra",
        b"u\ts\tmany",
        b"u\ts\t2.5",
        b"u\ts\t",
        b"u\ts\t0",
        b"u\ts\t-3",
        b"u\ts\t1234567890",
        b"\tsong\t1",
        b"user\t \t1",
        b" padded \t SOPAD \t 7 ",
        b"user\t\tSOPAD\t1",
        b"padded\tSOPAD\t+2\r",
        b"caf\xe9\tSOBYTES\t1",
        b"x" * 300 + b"\tSOLONG\t1",
    ]
    out = []
    for _ in range(n_lines):
        if rng.random() < 0.15:
            out.append(dirt[rng.integers(len(dirt))])
        else:
            user, song = users[rng.integers(len(users))], songs[rng.integers(len(songs))]
            out.append(b"%s\t%s\t%d" % (user, song, rng.integers(1, 50)))
    return b"\n".join(out)  # no newline after the last line


@pytest.mark.parametrize(("block_size_mb", "threads"), [(1e-4, 1), (1e-4, 3), (0.003, 2), (32, 0)])
def test_reader_matches_the_python_reference(
    tmp_path: Path, block_size_mb: float, threads: int
) -> None:
    raw = messy_file(np.random.default_rng(7), 3000)
    path = tmp_path / "triplets.txt"
    path.write_bytes(raw)
    triplets, report = read_play_triplets(
        path, {"block_size_mb": block_size_mb, "threads": threads}
    )
    expected_plays, expected_reasons, expected_blank = reference_read(raw)
    assert summed(triplets) == expected_plays
    assert report["dropped"] == dict(sorted(expected_reasons.items()))
    assert report["blank_lines"] == expected_blank
    assert report["lines_read"] == raw.count(b"\n") + 1 - expected_blank
    assert report["lines_kept"] == len(triplets["plays"])
    # ids are unique and every one is used: padded and unpadded spellings are one id
    for kind, codes in (("user_ids", "user"), ("song_ids", "song")):
        ids = triplets[kind]
        assert len(set(ids)) == len(ids)
        assert set(np.unique(triplets[codes])) == set(range(len(ids)))
    assert "padded" in set(triplets["user_ids"]) and "caf\ufffd" in set(triplets["user_ids"])


def test_block_and_thread_settings_give_identical_codes(tmp_path: Path) -> None:
    path = tmp_path / "triplets.txt"
    path.write_bytes(messy_file(np.random.default_rng(3), 2000))
    first, _ = read_play_triplets(path, {"block_size_mb": 32, "threads": 1})
    for block_size_mb, threads in [(1e-4, 2), (0.002, 4)]:
        other, _ = read_play_triplets(path, {"block_size_mb": block_size_mb, "threads": threads})
        for key in first:
            np.testing.assert_array_equal(first[key], other[key])


def test_dropped_lines_are_quoted_with_their_line_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = [f"{'a' * 40}\tSO{i:016d}\t{i + 1}" for i in range(50)]
    lines[9] = "no tabs at all"
    lines[30] = f"{'a' * 40}\tSO1\tthree"
    lines.insert(20, "")
    path = tmp_path / "triplets.txt"
    path.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING):
        _, report = read_play_triplets(path, {"block_size_mb": 1e-4, "threads": 2})
    assert f"{path}:10: malformed_line" in caplog.text
    assert f"{path}:32: non_integer_count" in caplog.text
    assert report["dropped"] == {"malformed_line": 1, "non_integer_count": 1}
    assert report["blank_lines"] == 1


@pytest.mark.parametrize("bom", [False, True], ids=["plain", "bom"])
def test_byte_order_mark_is_reported_only_when_there_is_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, bom: bool
) -> None:
    """With a dropped line in a later block (whose sample offsets once overwrote the
    BOM offset), the report and the log say "byte order mark" exactly when there is one."""
    lines = [f"{'b' * 40}\tSO{i:016d}\t{i + 1}" for i in range(40)]
    lines[25] = "no tabs at all"
    path = tmp_path / "triplets.txt"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ("\n".join(lines) + "\n").encode())
    with caplog.at_level(logging.INFO):
        triplets, report = read_play_triplets(path, {"block_size_mb": 1e-4, "threads": 2})
    assert report.get("byte_order_mark", False) is bom
    assert ("byte order mark" in caplog.text) is bom
    assert report["lines_kept"] == 39 and triplets["user_ids"][0] == "b" * 40


def test_empty_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "triplets.txt"
    path.write_bytes(b"")
    with pytest.raises(Exception, match="triplets.txt: the file is empty"):
        read_play_triplets(path, {})


@pytest.mark.parametrize("offset", range(8))
def test_hash_found_while_scanning_equals_the_hash_of_the_field(offset: int) -> None:
    rng = np.random.default_rng(offset)
    for length in range(0, 42):
        field = rng.integers(32, 127, length).astype(np.uint8)
        field[field == 9] = 65
        data = np.concatenate([np.full(offset, 66, np.uint8), field, [9], rng.integers(0, 255, 9)])
        data = data.astype(np.uint8)
        separator, a, b = kernels._hashed_field(data, offset, len(data))
        assert separator == offset + length
        assert (a, b) == kernels._hash(data, offset, offset + length)
        # at the end of the buffer, without a separator
        tail = data[: offset + length]
        assert kernels._hashed_field(tail, offset, len(tail)) == (len(tail), a, b)


def test_hash_tells_apart_ids_that_differ_in_one_byte_or_in_length() -> None:
    base = b"0123456789abcdef0123456789abcdef01234567"
    variants = {base, base[:-1], base + b"\x00"}
    for i in range(len(base)):
        variants.add(base[:i] + bytes([base[i] ^ 1]) + base[i + 1 :])
    hashes = set()
    for variant in variants:
        data = np.frombuffer(variant, np.uint8)
        hashes.add(kernels._hash(data, 0, len(data)))
    assert len(hashes) == len(variants)


def test_tables_grow_past_their_first_size_on_every_thread(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    users = [f"{u:040x}" for u in rng.integers(0, 2**62, 9000)]
    songs = [f"SO{s:016d}" for s in range(6000)]
    lines = [
        f"{users[u]}\t{songs[s]}\t{c}"
        for u, s, c in zip(
            rng.integers(0, len(users), 40_000),
            rng.integers(0, len(songs), 40_000),
            rng.integers(1, 9, 40_000),
            strict=True,
        )
    ]
    raw = ("\n".join(lines) + "\n").encode()
    path = tmp_path / "triplets.txt"
    path.write_bytes(raw)
    triplets, report = read_play_triplets(path, {"block_size_mb": 0.2, "threads": 3})
    assert summed(triplets) == reference_read(raw)[0]
    assert report["dropped"] == {}
    # codes follow the order of first appearance in the file
    first_users = list(dict.fromkeys(line.split("\t", 1)[0] for line in lines))
    assert list(triplets["user_ids"]) == first_users


# ---- users named only by dropped lines


def reference_users_only_in_invalid_lines(raw: bytes) -> set[bytes]:
    """User ids of dropped lines with a tab-ended, non-empty first field, not in kept lines."""
    kept: set[bytes] = set()
    invalid: set[bytes] = set()
    lines = raw.split(b"\n")
    for line in lines[:-1] if lines and lines[-1] == b"" else lines:
        if not line.strip():
            continue
        fields = line.split(b"\t")
        user = fields[0].strip()
        count = fields[-1].strip()
        digits = count[1:] if count[:1] in (b"+", b"-") else count
        valid = (
            len(fields) == 3
            and user
            and fields[1].strip()
            and 1 <= len(digits) <= 9
            and digits.isdigit()
            and int(count) > 0
        )
        if valid:
            kept.add(user)
        elif len(fields) > 1 and user:
            invalid.add(user)
    return invalid - kept


SETTINGS = [(1e-4, 1), (1e-4, 3), (0.002, 2), (32, 0)]


@pytest.mark.parametrize(("block_size_mb", "threads"), SETTINGS)
def test_users_only_in_dropped_lines_match_the_python_reference(
    tmp_path: Path, block_size_mb: float, threads: int
) -> None:
    raw = messy_file(np.random.default_rng(7), 3000)
    path = tmp_path / "triplets.txt"
    path.write_bytes(raw)
    _, report = read_play_triplets(path, {"block_size_mb": block_size_mb, "threads": threads})
    expected = reference_users_only_in_invalid_lines(raw)
    assert expected == {b"u", b"user"}  # the dirt's users; "padded" has valid lines too
    assert report["users_only_in_invalid_lines"] == len(expected)


QUALIFYING = {  # a dropped line whose user id is recorded, by how it is invalid
    "two_fields": ("malformed_line", "{u}\tSO1"),
    "four_fields": ("malformed_line", "{u}\tSO1\t1\textra"),
    "tab_in_song_field": ("malformed_line", "{u}\t\tSO1\t1"),
    "empty_song_id": ("malformed_line", "{u}\t \t1"),
    "non_integer_count": ("non_integer_count", "{u}\tSO1\tmany"),
    "too_many_digits": ("non_integer_count", "{u}\tSO1\t1234567890"),
    "empty_count": ("non_integer_count", "{u}\tSO1\t"),
    "zero_count": ("non_positive_count", "{u}\tSO1\t0"),
    "negative_count": ("non_positive_count", "{u}\tSO1\t-2"),
}


def _valid_lines(n: int) -> list[str]:
    return [f"{i % 37:040x}\tSO{i % 11:016d}\t{i % 5 + 1}" for i in range(n)]


@pytest.mark.parametrize("kind", sorted(QUALIFYING))
@pytest.mark.parametrize(("block_size_mb", "threads"), SETTINGS)
def test_a_user_seen_only_in_dropped_lines_is_counted(
    tmp_path: Path, kind: str, block_size_mb: float, threads: int
) -> None:
    reason, line = QUALIFYING[kind]
    valid = _valid_lines(400)
    lines = list(valid)
    only_invalid = "e" * 40
    # spread over blocks (and threads), in two spellings that trim to one id
    for at, user in ((3, only_invalid), (150, f" {only_invalid}\r"), (390, only_invalid)):
        lines.insert(at, line.format(u=user))
    # a user of kept lines whose dropped lines come first, in other blocks: not counted
    kept_user = f"{5:040x}"
    lines[1:1] = [line.format(u=kept_user), line.format(u=f"  {kept_user}")]
    # no user id to tell: no tab, an empty or blank first field
    lines += [only_invalid.replace("e", "f"), f"\tSO1\t{1}", " \tSO1\t0"]
    path = tmp_path / "triplets.txt"
    path.write_text("\n".join(lines) + "\n")
    triplets, report = read_play_triplets(
        path, {"block_size_mb": block_size_mb, "threads": threads}
    )
    assert report["dropped"][reason] >= 5
    assert report["users_only_in_invalid_lines"] == 1
    raw = path.read_bytes()
    assert reference_users_only_in_invalid_lines(raw) == {only_invalid.encode()}
    # the kept lines' output is the one of the file without the dropped lines
    clean = tmp_path / "clean.txt"
    clean.write_text("\n".join(valid) + "\n")
    expected, clean_report = read_play_triplets(
        clean, {"block_size_mb": block_size_mb, "threads": threads}
    )
    assert clean_report["users_only_in_invalid_lines"] == 0
    for key in expected:
        np.testing.assert_array_equal(triplets[key], expected[key])


def test_many_users_only_in_dropped_lines_grow_every_table(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    kept = [f"{u:040x}" for u in range(300)]
    dropped = [f"{u:040x}" for u in range(300, 2300)]  # past the first table and array sizes
    lines = [f"{kept[u]}\tSO{u % 13:016d}\t2" for u in rng.integers(0, len(kept), 6000)]
    for user in rng.permutation(dropped + dropped[:500] + kept[:50]):
        lines.insert(int(rng.integers(0, len(lines) + 1)), f"{user}\tSO1\t{rng.choice(['0', 'x'])}")
    raw = ("\n".join(lines) + "\n").encode()
    path = tmp_path / "triplets.txt"
    path.write_bytes(raw)
    assert len(reference_users_only_in_invalid_lines(raw)) == len(dropped)
    for block_size_mb, threads in [(0.05, 3), (32, 1)]:
        _, report = read_play_triplets(path, {"block_size_mb": block_size_mb, "threads": threads})
        assert report["users_only_in_invalid_lines"] == len(dropped)

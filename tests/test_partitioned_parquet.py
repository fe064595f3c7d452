"""The partitioned Parquet triplets: parts Spark can read in parallel, swapped in whole."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


def test_triplets_round_trip_and_a_resave_replaces_the_folder(tmp_path) -> None:
    from coldstart.datasets import PartitionedParquetDataset
    from coldstart.pipelines.ingestion.nodes import play_triplets_table

    plays = sp.random(50, 40, density=0.1, format="csr", random_state=0, dtype=np.float32)
    plays.data = np.ceil(plays.data * 10)
    table = play_triplets_table(plays)
    assert list(table.columns) == ["user_idx", "item_idx", "plays"]
    rebuilt = sp.csr_matrix((table["plays"], (table["user_idx"], table["item_idx"])), plays.shape)
    assert (rebuilt != plays).nnz == 0

    folder = tmp_path / "song_play_triplets"
    dataset = PartitionedParquetDataset(str(folder), n_parts=4)
    assert not dataset.exists()
    dataset.save(table)
    assert dataset.exists() and len(list(folder.glob("part-*.parquet"))) == 4
    pd.testing.assert_frame_equal(dataset.load(), table)

    smaller = table.head(3)
    dataset.save(smaller)  # fewer rows than parts: one part per row, old parts gone
    assert len(list(folder.glob("part-*.parquet"))) == 3
    pd.testing.assert_frame_equal(dataset.load(), smaller.reset_index(drop=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song_play_triplets"]  # no leftovers


def test_many_parts_load_in_row_order_with_the_written_dtypes(tmp_path) -> None:
    """pyarrow.dataset reads the parts back as the pandas concatenation of them did."""
    from coldstart.datasets import PartitionedParquetDataset

    rng = np.random.default_rng(3)
    n = 100_003
    table = pd.DataFrame(
        {
            "user_idx": rng.integers(0, 5_000, n).astype(np.int32),
            "item_idx": np.arange(n, dtype=np.int64),
            "plays": rng.random(n).astype(np.float32),
        }
    )
    dataset = PartitionedParquetDataset(str(tmp_path / "t"), n_parts=23)
    dataset.save(table)
    parts = sorted((tmp_path / "t").glob("part-*.parquet"))
    assert len(parts) == 23
    concatenated = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    loaded = dataset.load()
    pd.testing.assert_frame_equal(loaded, concatenated)
    pd.testing.assert_frame_equal(loaded, table)


def test_a_folder_without_parts_is_named(tmp_path) -> None:
    import pytest

    from coldstart.datasets import PartitionedParquetDataset

    (tmp_path / "empty").mkdir()
    from kedro.io import DatasetError

    with pytest.raises(DatasetError, match="no part-"):
        PartitionedParquetDataset(str(tmp_path / "empty")).load()

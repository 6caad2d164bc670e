"""Clip tables (episodes memory-mapped from disk) and each process's share of a global batch."""

from __future__ import annotations

import numpy as np
import pytest

from viper.core.cliptable import INDEX_FILE, mapping_of, open_clip_table, write_clip_table
from viper.core.config import DistributedConfig
from viper.core.config.distributed import single_process
from viper.core.dataset import DatasetWriter, VideoDataset, process_rows
from viper.core.errors import DatasetError


def dataset(root, episodes: int = 7) -> VideoDataset:
    writer = DatasetWriter(root)
    rng = np.random.default_rng(0)
    for i in range(episodes):
        writer.add("a" if i % 3 else "b", rng.integers(0, 256, (9 + i, 8, 8, 3), dtype=np.uint8))
    return VideoDataset(root)


def test_process_rows_split_a_batch_into_equal_contiguous_shares():
    assert [process_rows(8, p, 4) for p in range(4)] == [slice(0, 2), slice(2, 4), slice(4, 6), slice(6, 8)]
    assert process_rows(8, 0, 1) == slice(0, 8)
    with pytest.raises(DatasetError, match="batch size 6 does not split evenly among 4 processes"):
        process_rows(6, 0, 4)
    with pytest.raises(DatasetError, match="process 2 of 2"):
        process_rows(8, 2, 2)


def test_disk_store_holds_the_memory_store_values_and_samples_the_same_clips(tmp_path):
    data = dataset(tmp_path / "data")
    masks = {"a": np.arange(64).reshape(8, 8) % 5 > 0}
    train, _ = data.split(0.2)
    memory = data.store(train, masks=masks)
    disk = data.store(train, masks=masks, on_disk=tmp_path / "clips")
    assert all(mapping_of(a) is not None and not a.flags.writeable for a in disk.arrays)
    assert all(mapping_of(a) is None for a in memory.arrays)
    assert disk.tasks == memory.tasks and np.array_equal(disk.task_ids, memory.task_ids)
    for a, b in zip(memory.arrays, disk.arrays):
        np.testing.assert_array_equal(a, b)
    for stride in (1, 2):
        one = memory.sample_clips(np.random.default_rng(5), 8, 3, stride)
        two = disk.sample_clips(np.random.default_rng(5), 8, 3, stride)
        np.testing.assert_array_equal(one[0], two[0])
        np.testing.assert_array_equal(one[1], two[1])
        # each of two processes draws the global batch and reads its rows: together, the batch
        shares = [disk.sample_clips(np.random.default_rng(5), 8, 3, stride, rows=process_rows(8, p, 2)) for p in (0, 1)]
        np.testing.assert_array_equal(np.concatenate([s[0] for s in shares]), one[0])
        np.testing.assert_array_equal(np.concatenate([s[1] for s in shares]), one[1])


def test_a_table_is_written_once_and_rewritten_when_its_data_changes(tmp_path):
    data = dataset(tmp_path / "data")
    data.store(on_disk=tmp_path / "clips")
    (table,) = (tmp_path / "clips").iterdir()
    written = (table / INDEX_FILE).stat().st_mtime_ns
    data.store(on_disk=tmp_path / "clips")
    assert (table / INDEX_FILE).stat().st_mtime_ns == written  # reused
    masked = data.store(masks={"b": np.zeros((8, 8), bool)}, on_disk=tmp_path / "clips")
    assert len(list((tmp_path / "clips").iterdir())) == 2  # other masks: another table
    assert all(not a.any() for a, t in zip(masked.arrays, masked.task_ids) if masked.tasks[t] == "b")
    assert open_clip_table(table, key="another dataset") is None
    (table / INDEX_FILE).write_text("{not json")
    assert open_clip_table(table) is None  # a damaged table counts as missing and is rewritten
    again = data.store(on_disk=tmp_path / "clips")
    assert sum(len(a) for a in again.arrays) == sum(e.length for e in data.episodes)


def test_process_settings_name_neither_stage_nor_saved_model():
    options = {"steps": 3, "coordinator_address": "10.0.0.1:1234", "num_processes": 2, "process_id": 1}
    assert single_process(options) == {
        "steps": 3,
        "coordinator_address": None,
        "num_processes": None,
        "process_id": None,
    }
    alone = {"steps": 3, **vars(DistributedConfig())}
    assert single_process(alone) == alone  # a one-process config keeps its stage hashes


def test_a_second_writer_of_the_same_table_keeps_the_first_and_a_stale_table_is_replaced(tmp_path):
    episodes = [np.arange(12, dtype=np.int32).reshape(3, 2, 2), np.ones((2, 2, 2), np.int32)]
    write_clip_table(tmp_path / "t", episodes, [3, 2], [0, 1], ("a", "b"), key="k")
    first = (tmp_path / "t" / INDEX_FILE).stat().st_ino
    write_clip_table(tmp_path / "t", episodes, [3, 2], [0, 1], ("a", "b"), key="k")  # another process, late
    assert (tmp_path / "t" / INDEX_FILE).stat().st_ino == first
    write_clip_table(tmp_path / "t", episodes[:1], [3], [0], ("a",), key="other")
    store = open_clip_table(tmp_path / "t", key="other")
    assert len(store) == 1 and np.array_equal(store.arrays[0], episodes[0])
    assert [p.name for p in tmp_path.iterdir()] == ["t"]  # no temporary folder left behind
    with pytest.raises(ValueError, match="episode 1 holds 2 frames, expected 3"):
        write_clip_table(tmp_path / "u", episodes, [3, 3], [0, 1], ("a", "b"))
    assert [p.name for p in tmp_path.iterdir()] == ["t"]

from __future__ import annotations

import json

import numpy as np
import pytest

from viper.core.dataset import DatasetWriter, EpisodeStore, VideoDataset, apply_mask
from viper.core.errors import DatasetError


def frames(t: int, size: int = 8, value: int = 0) -> np.ndarray:
    out = np.full((t, size, size, 3), value, np.uint8)
    out[:, 0, 0, 0] = np.arange(t)
    return out


def write(root, n=4, tasks=("a",), t=6):
    w = DatasetWriter(root)
    for task in tasks:
        for i in range(n):
            w.add(task, frames(t, value=i), task_reward=np.arange(t, dtype=np.float32), actions=np.zeros((t, 2)))
    return w


def test_round_trip_and_manifest(tmp_path) -> None:
    write(tmp_path / "d", n=3, tasks=("a", "b"))
    ds = VideoDataset(tmp_path / "d")
    assert ds.tasks == ["a", "b"] and len(ds) == 6 and ds.image_size == (8, 8)
    arrays = ds.load(ds.episodes[1])
    assert arrays["frames"].dtype == np.uint8 and arrays["frames"].shape == (6, 8, 8, 3)
    assert ds.episodes[1].episode_return == pytest.approx(15.0)
    ds.validate()
    files = sorted(p.relative_to(tmp_path / "d").as_posix() for p in (tmp_path / "d").rglob("*.npz"))
    assert files == ["a/000000.npz", "a/000001.npz", "a/000002.npz", "b/000000.npz", "b/000001.npz", "b/000002.npz"]


def test_existing_output_is_refused_and_resume_appends(tmp_path) -> None:
    write(tmp_path / "d", n=2)
    with pytest.raises(DatasetError, match=r"--out .*already holds a dataset \(2 episodes\)"):
        DatasetWriter(tmp_path / "d")
    w = DatasetWriter(tmp_path / "d", resume=True)
    w.add("a", frames(3), key="k1")
    assert len(VideoDataset(tmp_path / "d")) == 3
    assert w.has("a", "k1") and not w.has("a", "k2")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="not empty"):
        DatasetWriter(tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "x"


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((3, 8, 8, 3), np.float32), r"'frames' must be uint8\[T,H,W,3\], got float32"),
        (np.zeros((3, 8, 8), np.uint8), r"must be uint8\[T,H,W,3\]"),
        (np.zeros((0, 8, 8, 3), np.uint8), r"holds no frame"),
        (np.zeros((3, 16, 16, 3), np.uint8), r"frames are 16x16 but the dataset is 8x8"),
    ],
)
def test_writer_validates_frames(tmp_path, bad, message) -> None:
    w = write(tmp_path / "d", n=1)
    with pytest.raises(DatasetError, match=message):
        w.add("a", bad)


def test_writer_validates_optional_arrays_and_task_names(tmp_path) -> None:
    w = DatasetWriter(tmp_path / "d")
    with pytest.raises(DatasetError, match=r"'task_reward' must be float\[4\]"):
        w.add("a", frames(4), task_reward=np.zeros(3, np.float32))
    with pytest.raises(DatasetError, match=r"'actions' must have 4 rows"):
        w.add("a", frames(4), actions=np.zeros((5, 1)))
    with pytest.raises(DatasetError, match="task name"):
        w.add("../evil", frames(4))


def test_reader_reports_corrupt_and_inconsistent_files(tmp_path) -> None:
    write(tmp_path / "d", n=3)
    root = tmp_path / "d"
    (root / "a" / "000001.npz").write_bytes(b"not a zip")
    ds = VideoDataset(root)
    with pytest.raises(DatasetError, match=r"000001\.npz: corrupt or unreadable"):
        ds.validate()
    np.savez(root / "a" / "000002.npz", frames=np.zeros((6, 8, 8, 3), np.int64))
    with pytest.raises(DatasetError, match=r"000002\.npz: 'frames' must be uint8"):
        ds.load(ds.episodes[2])
    np.savez(root / "a" / "000002.npz", frames=np.zeros((6, 12, 12, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"frames are 12x12 but the dataset is 8x8"):
        ds.load(ds.episodes[2])
    (root / "a" / "000000.npz").unlink()
    with pytest.raises(DatasetError, match=r"listed in dataset.json but missing"):
        VideoDataset(root)


def test_reader_rejects_non_datasets(tmp_path) -> None:
    with pytest.raises(DatasetError, match="no such dataset folder"):
        VideoDataset(tmp_path / "missing")
    (tmp_path / "x").mkdir()
    with pytest.raises(DatasetError, match="no dataset.json"):
        VideoDataset(tmp_path / "x")
    (tmp_path / "x" / "dataset.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(DatasetError, match="not a viper dataset manifest"):
        VideoDataset(tmp_path / "x")


def test_pickled_arrays_are_refused(tmp_path) -> None:
    write(tmp_path / "d", n=1)
    np.savez(tmp_path / "d" / "a" / "000000.npz", frames=np.array([object()], dtype=object))
    ds = VideoDataset(tmp_path / "d")
    with pytest.raises(DatasetError, match="corrupt or unreadable"):
        ds.load(ds.episodes[0])


def test_split_is_deterministic_and_covers_every_task(tmp_path) -> None:
    write(tmp_path / "d", n=10, tasks=("a", "b"))
    ds = VideoDataset(tmp_path / "d")
    train, val = ds.split(0.2)
    assert len(train) == 16 and len(val) == 4
    assert {e.task for e in val} == {"a", "b"}
    assert ds.split(0.2) == (train, val)
    assert not set(e.file for e in train) & set(e.file for e in val)


def test_explicit_split_is_kept(tmp_path) -> None:
    w = DatasetWriter(tmp_path / "d")
    w.add("a", frames(4), split="train")
    w.add("a", frames(4), split="val")
    w.add("a", frames(4), split="train")
    train, val = VideoDataset(tmp_path / "d").split(0.5)
    assert [e.file for e in val] == ["a/000001.npz"] and len(train) == 2


def test_store_clips_and_windows(tmp_path) -> None:
    write(tmp_path / "d", n=2, t=10)
    store = VideoDataset(tmp_path / "d").store()
    rng = np.random.default_rng(0)
    clips, tasks = store.sample_clips(rng, 5, length=3, stride=2)
    assert clips.shape == (5, 3, 8, 8, 3) and tasks.shape == (5,)
    steps = np.diff(clips[:, :, 0, 0, 0].astype(int), axis=1)
    assert (steps == 2).all()
    windows = list(store.windows(4))
    assert len(windows) == 4 and windows[0][0].shape == (4, 8, 8, 3)
    with pytest.raises(DatasetError, match=r"shorter than one clip of 6 frames at frame_skip 2"):
        store.sample_clips(rng, 1, length=6, stride=2)
    with pytest.raises(DatasetError, match="holds no episode"):
        EpisodeStore([], np.zeros(0, np.int32)).check_length(2)


def test_mask_zeroes_hidden_pixels() -> None:
    f = np.full((2, 4, 4, 3), 9, np.uint8)
    mask = np.ones((4, 4), bool)
    mask[0] = False
    out = apply_mask(f, mask)
    assert (out[:, 0] == 0).all() and (out[:, 1:] == 9).all() and (f == 9).all()


def test_expert_dataset_is_the_given_folder_else_the_workdirs_else_none(tmp_path) -> None:
    from viper.core.rewarding import expert_dataset

    write(tmp_path / "videos", n=3)
    given = expert_dataset(tmp_path / "run", tmp_path / "videos")
    assert given is not None and len(given) == 3
    assert expert_dataset(tmp_path / "run") is None  # no data stage, no --data: rewards do without

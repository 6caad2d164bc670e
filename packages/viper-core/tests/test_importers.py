"""`viper-run import-videos`: videos, GIFs, PNG folders and the VIPER .npz release into datasets."""

from __future__ import annotations

from pathlib import Path

import av
import imageio.v3 as iio
import numpy as np
import pytest

from viper.core import cli
from viper.core.dataset import VideoDataset
from viper.core.errors import ConfigError, DatasetError
from viper.core.importers import center_crop, import_videos, keep_times, resize_frames


def pattern(t: int, height: int, width: int) -> np.ndarray:
    """A frame a codec keeps recognisable: flat colour blocks, one that moves with t."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[:, : width // 2] = (200, 40, 40)
    frame[:, width // 2 :] = (40, 40, 200)
    top = (t * 4) % max(1, height - height // 4)
    frame[top : top + height // 4, width // 4 : width // 2] = (40, 220, 40)
    return frame


def write_video(path: Path, frames: list[np.ndarray], fps: int = 30, codec: str = "libx264") -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "10"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def expected(frames: list[np.ndarray], size: int = 64) -> np.ndarray:
    return resize_frames(center_crop(np.stack(frames)), size)


def test_mp4_round_trip(tmp_path) -> None:
    frames = [pattern(t, 96, 128) for t in range(20)]
    (tmp_path / "src").mkdir()
    write_video(tmp_path / "src" / "clip.mp4", frames)
    report = import_videos(tmp_path / "src", tmp_path / "out", task="demo", progress=False)
    assert report.imported == 1 and report.ok and report.frames == 20
    ds = VideoDataset(tmp_path / "out")
    ds.validate()
    assert ds.tasks == ["demo"] and ds.image_size == (64, 64)
    got = ds.load(ds.episodes[0])["frames"]
    assert got.shape == (20, 64, 64, 3) and got.dtype == np.uint8
    error = np.abs(got.astype(int) - expected(frames).astype(int)).mean()
    assert error < 4, f"decoded frames differ from the originals by {error:.1f} on average"
    assert ds.episodes[0].key == "clip.mp4"


def test_gif_webm_and_png_folder(tmp_path) -> None:
    src = tmp_path / "src"
    (src / "run1").mkdir(parents=True)
    gif = [pattern(t, 40, 40) for t in range(6)]
    iio.imwrite(src / "a.gif", np.stack(gif), duration=100, loop=0)
    write_video(src / "b.webm", [pattern(t, 48, 64) for t in range(5)], fps=10, codec="libvpx-vp9")
    pngs = [pattern(t, 64, 64) for t in range(12)]
    for i, frame in enumerate(pngs):  # natural order: frame2 before frame10
        iio.imwrite(src / "run1" / f"frame{i}.png", frame)
    report = import_videos(src, tmp_path / "out", task="mixed", progress=False)
    assert report.imported == 3 and report.ok
    ds = VideoDataset(tmp_path / "out")
    by_key = {e.key: ds.load(e)["frames"] for e in ds.episodes}
    assert set(by_key) == {"a.gif", "b.webm", "run1"}
    assert len(by_key["a.gif"]) == 6 and len(by_key["b.webm"]) == 5
    assert np.array_equal(by_key["run1"], np.stack(pngs))  # lossless and already 64x64
    assert np.abs(by_key["a.gif"].astype(int) - expected(gif).astype(int)).mean() < 4


def test_fps_subsampling(tmp_path) -> None:
    write_video(tmp_path / "v.mp4", [pattern(t, 64, 64) for t in range(30)], fps=30)
    report = import_videos(tmp_path / "v.mp4", tmp_path / "out", task="t", fps=10, progress=False)
    assert report.frames == 10
    assert keep_times([i / 30 for i in range(9)], 10) == [0, 3, 6]
    assert keep_times([i / 5 for i in range(4)], 10) == [0, 1, 2, 3]  # never repeats frames
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(8):
        iio.imwrite(folder / f"{i:03d}.png", pattern(i, 32, 32))
    with pytest.raises(ConfigError, match="carries no frame rate.*--src-fps"):
        import_videos(folder, tmp_path / "out2", task="t", fps=2, progress=False)
    report = import_videos(folder, tmp_path / "out2", task="t", fps=2, src_fps=4, progress=False)
    assert report.frames == 4


def test_center_crop_keeps_the_middle() -> None:
    frame = np.zeros((10, 30, 3), np.uint8)
    frame[:, 10:20] = 255
    assert np.all(center_crop(frame) == 255)
    assert resize_frames(np.full((200, 100, 3), 7, np.uint8), 16).shape == (16, 16, 3)
    up = resize_frames(np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3), 8)  # enlarging works too
    assert up.shape == (8, 8, 3)


def test_bad_sources_are_reported_and_skipped(tmp_path, capsys) -> None:
    src = tmp_path / "src"
    (src / "mixed").mkdir(parents=True)
    write_video(src / "good.mp4", [pattern(t, 64, 64) for t in range(4)])
    (src / "notavideo.mp4").write_text("this is a text file")
    with av.open(str(src / "empty.avi"), "w") as container:  # a valid container with zero frames
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 32
        container.start_encoding()
    iio.imwrite(src / "mixed" / "0.png", pattern(0, 32, 32))
    iio.imwrite(src / "mixed" / "1.png", pattern(1, 48, 32))
    code = cli.main(["import-videos", "--src", str(src), "--task", "t", "--out", str(tmp_path / "out"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 1  # partial success: the good file is in, the others are named
    assert "imported 1 episodes" in captured.out and "3 skipped as unreadable" in captured.out
    assert "notavideo.mp4: not a readable video" in captured.err
    assert "empty.avi: holds no frame" in captured.err
    assert "mixed: mixed resolutions: frame 1.png is 32x48, 0.png is 32x32" in captured.err
    assert len(VideoDataset(tmp_path / "out")) == 1


def test_videos_of_different_resolutions_share_the_dataset_size(tmp_path) -> None:
    (tmp_path / "src").mkdir()
    write_video(tmp_path / "src" / "small.mp4", [pattern(0, 48, 64)])
    write_video(tmp_path / "src" / "large.mp4", [pattern(0, 240, 320)] * 2)
    report = import_videos(tmp_path / "src", tmp_path / "out", task="t", size=32, progress=False)
    assert report.imported == 2
    ds = VideoDataset(tmp_path / "out")
    assert ds.image_size == (32, 32) and all(ds.load(e)["frames"].shape[1:] == (32, 32, 3) for e in ds.episodes)
    with pytest.raises(DatasetError, match="holds 32x32 frames but --size is 64"):
        import_videos(tmp_path / "src", tmp_path / "out", task="t", size=64, progress=False)


def test_rerun_after_interruption_does_not_duplicate(tmp_path, monkeypatch) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        write_video(src / f"v{i}.mp4", [pattern(t + i, 64, 64) for t in range(3)])
    import viper.core.importers as importers

    real = importers.read_video
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(importers, "read_video", interrupted)
    with pytest.raises(KeyboardInterrupt):
        import_videos(src, tmp_path / "out", task="t", progress=False)
    assert len(VideoDataset(tmp_path / "out")) == 1
    monkeypatch.setattr(importers, "read_video", real)
    report = import_videos(src, tmp_path / "out", task="t", progress=False)
    assert (report.imported, report.already_present) == (2, 1)
    ds = VideoDataset(tmp_path / "out")
    assert sorted(e.key for e in ds.episodes) == ["v0.mp4", "v1.mp4", "v2.mp4"]
    again = import_videos(src, tmp_path / "out", task="t", progress=False)
    assert (again.imported, again.already_present) == (0, 3) and len(VideoDataset(tmp_path / "out")) == 3


def test_viper_npz_release_layout(tmp_path, capsys) -> None:
    root = tmp_path / "release"
    rng = np.random.default_rng(0)
    for task in ("cartpole_swingup", "walker_walk"):
        for split, count in (("train", 2), ("test", 1)):
            (root / task / split).mkdir(parents=True)
            for i in range(count):
                video = rng.integers(0, 256, (5 + i, 64, 64, 3), dtype=np.uint8)
                np.savez_compressed(root / task / split / f"{i}.npz", video)  # key arr_0, as released
    (root / "walker_walk" / "train" / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    code = cli.main(
        ["import-videos", "--format", "viper-npz", "--src", str(root), "--out", str(tmp_path / "d"), "--quiet"]
    )
    captured = capsys.readouterr()
    assert code == 1 and "broken.npz: not a readable .npz" in captured.err
    ds = VideoDataset(tmp_path / "d")
    assert ds.tasks == ["cartpole_swingup", "walker_walk"] and len(ds) == 6
    val = [e for e in ds.episodes if e.split == "val"]
    assert len(val) == 2 and all(e.key.startswith("test/") for e in val)
    first = next(e for e in ds.episodes if e.task == "cartpole_swingup" and e.key == "train/0.npz")
    with np.load(root / "cartpole_swingup" / "train" / "0.npz") as data:
        assert np.array_equal(ds.load(first)["frames"], data["arr_0"])  # 64x64 already: untouched
    # one task only, from the root or from its own folder
    report = import_videos(root, tmp_path / "one", task="walker_walk", format="viper-npz", progress=False)
    assert report.tasks == ["walker_walk"] and report.imported == 3
    report = import_videos(root / "cartpole_swingup", tmp_path / "two", format="viper-npz", progress=False)
    assert report.tasks == ["cartpole_swingup"]
    with pytest.raises(ConfigError, match="--task 'hopper': not in --src .*; its tasks: cartpole_swingup, walker_walk"):
        import_videos(root, tmp_path / "three", task="hopper", format="viper-npz", progress=False)


def test_bad_options_and_unwritable_output(tmp_path, capsys) -> None:
    write_video(tmp_path / "v.mp4", [pattern(0, 32, 32)])
    with pytest.raises(ConfigError, match="--src .*missing: no such file"):
        import_videos(tmp_path / "missing", tmp_path / "o", task="t")
    with pytest.raises(ConfigError, match="--task: required"):
        import_videos(tmp_path / "v.mp4", tmp_path / "o")
    with pytest.raises(ConfigError, match="--task: task name 'a b'"):
        import_videos(tmp_path / "v.mp4", tmp_path / "o", task="a b")
    with pytest.raises(ConfigError, match="--fps -1"):
        import_videos(tmp_path / "v.mp4", tmp_path / "o", task="t", fps=-1)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="not a video file"):
        import_videos(tmp_path / "notes.txt", tmp_path / "o", task="t")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="found no video"):
        import_videos(tmp_path / "empty", tmp_path / "o", task="t")
    # --out below a regular file cannot be created (chmod tricks do not stop root)
    assert (
        cli.main(
            [
                "import-videos",
                "--src",
                str(tmp_path / "v.mp4"),
                "--task",
                "t",
                "--out",
                str(tmp_path / "notes.txt" / "d"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "--out" in err and "notes.txt/d: cannot create it" in err and len(err.strip().splitlines()) == 1
    # a folder holding something else is refused rather than mixed into
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file.txt").write_text("x")
    with pytest.raises(DatasetError, match="folder is not empty and holds no dataset.json"):
        import_videos(tmp_path / "v.mp4", tmp_path / "busy", task="t")
    assert not (tmp_path / "o").exists()  # option errors are raised before anything is written

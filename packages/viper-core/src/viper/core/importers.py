"""Bringing videos from elsewhere into the dataset format (``viper-run import-videos``).

Two source layouts:

* ``videos`` (default): a file, or a folder searched recursively for video files (mp4, webm,
  gif, mkv, avi, mov, m4v; decoded with PyAV) and for folders of frame images (png, jpg; one
  folder = one episode, frames in natural name order, e.g. ``frame2.png`` before
  ``frame10.png``). Each becomes one episode of ``--task``.
* ``viper-npz``: the official VIPER dataset release, ``<task>/{train,test}/*.npz`` holding
  ``arr_0`` = ``uint8[T,64,64,3]``; ``src`` is the release root (every task folder is imported,
  or only ``--task``) or one task folder. ``test`` episodes get split ``val``.

Frames are centre-cropped to a square (the largest one in the middle of the frame) and resized
to ``size x size`` with anti-aliasing (Pillow's area-averaging BOX filter when shrinking,
bilinear when enlarging),
so a 16:9 video keeps its aspect ratio and loses its sides. ``fps`` subsamples in time: a frame
is kept when its timestamp reaches the next multiple of ``1/fps`` (no frame is ever repeated,
so a source slower than ``fps`` keeps every frame).

Each episode remembers its source (the path relative to ``src``) as its key; a re-run after an
interruption skips what is already in the dataset. Unreadable sources are reported by name and
skipped; the others are still imported.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from viper.core.dataset import DatasetWriter, check_task_name
from viper.core.errors import ConfigError, DatasetError

VIDEO_EXTENSIONS = (".mp4", ".webm", ".gif", ".mkv", ".avi", ".mov", ".m4v")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
FORMATS = ("videos", "viper-npz")


class SourceError(Exception):
    """One source cannot be imported; the message says why (the importer skips it)."""


# --------------------------------------------------------------------------------------------
# Resizing


def resize_frames(frames: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Anti-aliased resize of ``uint8[..., H, W, 3]`` to ``uint8[..., h, w, 3]`` (no cropping).

    Shrinking averages every source pixel whose centre falls in the output pixel's footprint
    (Pillow's BOX filter: area averaging, like OpenCV's INTER_AREA that the official VIPER Atari
    wrapper uses); enlarging interpolates bilinearly. Pillow runs single-threaded in C, about
    0.2 ms for an Atari screen, where a BLAS-based resize stalls when cores are busy.
    """
    from PIL import Image

    height, width = (size, size) if isinstance(size, int) else size
    if frames.shape[-3:-1] == (height, width):
        return frames
    in_h, in_w = frames.shape[-3:-1]
    method = Image.Resampling.BOX if height <= in_h and width <= in_w else Image.Resampling.BILINEAR
    flat = np.ascontiguousarray(frames).reshape(-1, in_h, in_w, frames.shape[-1])
    out = np.empty((len(flat), height, width, frames.shape[-1]), np.uint8)
    for i, frame in enumerate(flat):
        out[i] = np.asarray(Image.fromarray(frame).resize((width, height), method))
    return out.reshape(*frames.shape[:-3], height, width, frames.shape[-1])


def center_crop(frames: np.ndarray) -> np.ndarray:
    """The largest centred square of ``[..., H, W, C]`` frames."""
    height, width = frames.shape[-3:-1]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return frames[..., top : top + side, left : left + side, :]


def to_rgb(frame: np.ndarray) -> np.ndarray:
    """Grey, grey+alpha, RGB or RGBA ``uint8`` images as ``uint8[H, W, 3]``."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        if np.issubdtype(frame.dtype, np.integer) and frame.max(initial=0) > 255:
            frame = (frame >> 8).astype(np.uint8)  # 16-bit PNGs
        else:
            frame = frame.astype(np.uint8)
    if frame.ndim == 2:
        frame = frame[..., None]
    if frame.ndim != 3 or frame.shape[-1] not in (1, 2, 3, 4):
        raise SourceError(f"not an image (array of shape {list(frame.shape)})")
    if frame.shape[-1] in (1, 2):
        frame = np.repeat(frame[..., :1], 3, axis=-1)
    return np.ascontiguousarray(frame[..., :3])


def prepare(frame: np.ndarray, size: int) -> np.ndarray:
    """One decoded frame as ``uint8[size, size, 3]``: RGB, centre-cropped, resized."""
    return resize_frames(center_crop(to_rgb(frame)), size)


# --------------------------------------------------------------------------------------------
# Reading sources


class FrameClock:
    """Decides, frame by frame, which frames a ``fps`` subsampling keeps: the first frame, then
    each frame whose timestamp reaches the next multiple of ``1/fps`` after the last kept one."""

    def __init__(self, fps: float | None) -> None:
        self.period = None if fps is None else 1.0 / fps
        self.next_time: float | None = None

    def keep(self, time: float) -> bool:
        if self.period is None:
            return True
        if self.next_time is None:
            self.next_time = time
        if time < self.next_time - 1e-6:
            return False
        while self.next_time <= time + 1e-6:
            self.next_time += self.period
        return True


def keep_times(times: list[float], fps: float | None) -> list[int]:
    """Indices of the frames kept when subsampling frames at ``times`` (seconds) to ``fps``."""
    clock = FrameClock(fps)
    return [i for i, t in enumerate(times) if clock.keep(t)]


def read_video(path: Path, size: int, fps: float | None = None, src_fps: float | None = None) -> np.ndarray:
    """Decode a video file with PyAV into ``uint8[T, size, size, 3]``."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise SourceError(f"not a readable video ({_reason(exc)})") from exc
    frames: list[np.ndarray] = []
    clock = FrameClock(fps)
    with container:
        if not container.streams.video:
            raise SourceError("holds no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        # Videos carry their own timing; src_fps only fills in for a stream that lacks it.
        rate = (float(stream.average_rate) if stream.average_rate else None) or src_fps or 30.0
        try:
            for index, frame in enumerate(container.decode(stream)):
                time = index / rate if frame.time is None else float(frame.time)
                if clock.keep(time):
                    frames.append(prepare(frame.to_ndarray(format="rgb24"), size))
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise SourceError(f"corrupt video after {len(frames)} frames ({_reason(exc)})") from exc
    if not frames:
        raise SourceError("holds no frame")
    return np.stack(frames)


def _natural_key(name: str) -> list[object]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def frame_files(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, in natural name order."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(files, key=lambda p: _natural_key(p.name))


def read_frame_folder(folder: Path, size: int, fps: float | None = None, src_fps: float | None = None) -> np.ndarray:
    """A folder of frame images as ``uint8[T, size, size, 3]``; every frame must share one
    resolution (a folder mixing resolutions is most likely two sequences mixed up)."""
    import imageio.v3 as iio

    files = frame_files(folder)
    if not files:
        raise SourceError("holds no frame")
    if fps is not None:
        if src_fps is None:
            raise SourceError("frame folders carry no frame rate; pass --src-fps with --fps")
        files = [files[i] for i in keep_times([i / src_fps for i in range(len(files))], fps)]
    frames, first_shape = [], None
    for file in files:
        try:
            image = to_rgb(iio.imread(file))
        except (OSError, ValueError, SourceError) as exc:
            raise SourceError(f"frame {file.name} is unreadable ({_reason(exc)})") from exc
        if first_shape is None:
            first_shape = image.shape
        elif image.shape != first_shape:
            raise SourceError(
                f"mixed resolutions: frame {file.name} is {image.shape[1]}x{image.shape[0]}, "
                f"{files[0].name} is {first_shape[1]}x{first_shape[0]}"
            )
        frames.append(prepare(image, size))
    return np.stack(frames)


def read_viper_npz(path: Path, size: int, fps: float | None = None, src_fps: float | None = None) -> np.ndarray:
    """One episode of the official VIPER release: ``arr_0`` = ``uint8[T, H, W, 3]``."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as data:
            if "arr_0" not in data.files:
                raise SourceError(f"has no 'arr_0' array (has {', '.join(data.files) or 'nothing'})")
            video = data["arr_0"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SourceError(f"not a readable .npz ({_reason(exc)})") from exc
    if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3:
        raise SourceError(f"'arr_0' must be uint8[T,H,W,3], got {video.dtype}{list(video.shape)}")
    if len(video) == 0:
        raise SourceError("holds no frame")
    if fps is not None:
        if src_fps is None:
            raise SourceError("viper-npz episodes carry no frame rate; pass --src-fps with --fps")
        video = video[keep_times([i / src_fps for i in range(len(video))], fps)]
    return resize_frames(center_crop(video), size)


def _reason(exc: BaseException) -> str:
    strerror = getattr(exc, "strerror", None)  # PyAV/OS errors: without errno and file name
    if isinstance(strerror, str) and strerror:
        return strerror
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@dataclasses.dataclass(frozen=True)
class Source:
    """One episode to import."""

    path: Path
    key: str  # identity in the dataset manifest (path relative to --src)
    task: str
    reader: Callable[..., np.ndarray]
    split: str = ""


def find_videos(src: Path, task: str) -> list[Source]:
    """Video files and folders of frames under ``src`` (or ``src`` itself)."""
    if src.is_file():
        if src.suffix.lower() not in VIDEO_EXTENSIONS:
            raise ConfigError(f"--src {src}: not a video file (expected {', '.join(VIDEO_EXTENSIONS)})")
        return [Source(src, src.name, task, read_video)]
    sources = []
    for folder, dirs, files in os.walk(src):
        dirs.sort(key=_natural_key)
        here = Path(folder)
        for name in sorted(files, key=_natural_key):
            if Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                path = here / name
                sources.append(Source(path, path.relative_to(src).as_posix(), task, read_video))
        if any(Path(name).suffix.lower() in IMAGE_EXTENSIONS for name in files):
            key = here.relative_to(src).as_posix()
            sources.append(Source(here, key if key != "." else src.name, task, read_frame_folder))
    return sources


def find_viper_npz(src: Path, task: str | None) -> list[Source]:
    """Episodes of the official release layout under ``src``."""

    def task_sources(folder: Path, name: str) -> list[Source]:
        out = []
        for split_dir, split in (("train", "train"), ("test", "val")):
            for path in sorted((folder / split_dir).glob("*.npz"), key=lambda p: _natural_key(p.name)):
                out.append(Source(path, f"{split_dir}/{path.name}", name, read_viper_npz, split))
        return out

    if (src / "train").is_dir() or (src / "test").is_dir():
        return task_sources(src, task or src.name)
    tasks = sorted(p.name for p in src.iterdir() if p.is_dir() and ((p / "train").is_dir() or (p / "test").is_dir()))
    if not tasks:
        raise ConfigError(
            f"--src {src}: expected the VIPER release layout <task>/{{train,test}}/*.npz, found no task folder"
        )
    if task is not None:
        if task not in tasks:
            raise ConfigError(f"--task {task!r}: not in --src {src}; its tasks: {', '.join(tasks)}")
        tasks = [task]
    return [s for name in tasks for s in task_sources(src / name, name)]


# --------------------------------------------------------------------------------------------
# Importing


@dataclasses.dataclass
class ImportReport:
    """What an import did."""

    imported: int = 0
    frames: int = 0
    already_present: int = 0
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (source, reason)
    tasks: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def import_videos(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    task: str | None = None,
    size: int = 64,
    fps: float | None = None,
    src_fps: float | None = None,
    format: str = "videos",
    progress: bool = True,
    on_skip: Callable[[str, str], None] | None = None,
) -> ImportReport:
    """Import every source under ``src`` into the dataset folder ``out`` (created, or added to).

    Raises :class:`~viper.core.errors.ConfigError` / :class:`~viper.core.errors.DatasetError`
    for bad options or an unusable ``out``; an unreadable source is reported to ``on_skip`` and
    in the returned report, and the import goes on.
    """
    from viper.core.progress import progress_bar

    src = Path(src)
    if format not in FORMATS:
        raise ConfigError(f"--format {format!r}: expected one of {', '.join(FORMATS)}")
    if not src.exists():
        raise ConfigError(f"--src {src}: no such file or folder")
    if size < 8:
        raise ConfigError(f"--size {size}: expected at least 8 pixels")
    for option, value in (("--fps", fps), ("--src-fps", src_fps)):
        if value is not None and not value > 0:
            raise ConfigError(f"{option} {value}: expected a positive frame rate")
    if format == "videos":
        if not task:
            raise ConfigError("--task: required with --format videos (the task name the videos show)")
        try:
            check_task_name(task)
        except DatasetError as exc:
            raise ConfigError(f"--task: {exc}") from exc
        sources = find_videos(src, task)
        if not sources:
            raise ConfigError(
                f"--src {src}: found no video ({', '.join(VIDEO_EXTENSIONS)}) and no folder of frames "
                f"({', '.join(IMAGE_EXTENSIONS)})"
            )
    else:
        if not src.is_dir():
            raise ConfigError(f"--src {src}: --format viper-npz expects a folder")
        sources = find_viper_npz(src, task)
        if not sources:
            raise ConfigError(f"--src {src}: found no <task>/{{train,test}}/*.npz episode")

    if fps is not None and src_fps is None:
        untimed = [s for s in sources if s.reader is not read_video]
        if untimed:
            more = f" (and {len(untimed) - 1} more)" if len(untimed) > 1 else ""
            raise ConfigError(
                f"--fps {fps:g}: {untimed[0].path}{more} carries no frame rate (a folder of frames or an .npz "
                f"episode); pass the rate it was recorded at with --src-fps"
            )
    writer = DatasetWriter(out, resume=True, source={"importer": format, "src": str(src)}, option="--out")
    if writer.image_size is not None and tuple(writer.image_size) != (size, size):
        raise DatasetError(
            f"--out {out}: holds {writer.image_size[0]}x{writer.image_size[1]} frames but --size is {size}; "
            f"datasets hold one resolution"
        )
    report = ImportReport()
    bar = progress_bar(sources, enabled=progress, desc=f"import {format}", unit="video")
    for source in bar:
        if source.task not in report.tasks:
            report.tasks.append(source.task)
        if writer.has(source.task, source.key):
            report.already_present += 1
            continue
        try:
            frames = source.reader(source.path, size, fps=fps, src_fps=src_fps)
        except SourceError as exc:
            report.failed.append((str(source.path), str(exc)))
            if on_skip is not None:
                on_skip(str(source.path), str(exc))
            continue
        writer.add(source.task, frames, key=source.key, split=source.split)
        report.imported += 1
        report.frames += len(frames)
    return report

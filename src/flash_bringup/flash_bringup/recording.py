"""Pictures of a simulated pick: a labelled PNG strip and an MP4, from the frames the simulator writes.

The sim node (flash_sim, parameter `record_dir`) writes its overview camera's RGB frames as
`record_dir/frame_<sim time in ms, 8 digits>.png` at `record_fps` (sim time). The strip shows the frames
nearest to given moments (the pick's stage boundaries), each with its label and sim time above it; the video
plays every frame at the recording rate, so it runs at sim-time speed whatever the real-time factor was.
ROS-free: the demo client collects the moments, this module only reads and writes images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FRAME_NAME = re.compile(r"^frame_(\d{8})\.png$")


@dataclass(frozen=True)
class Frame:
    """One recorded frame: its sim time (s) and file."""

    time_s: float
    path: Path


def list_frames(record_dir: Path, start_s: float | None = None, end_s: float | None = None,
                written_after: float | None = None) -> list[Frame]:
    """The frames in record_dir between start_s and end_s (sim seconds, inclusive; None: unbounded), by time.
    written_after (epoch s): only files modified since then; an earlier run's frames in the same folder (its sim
    time also started at 0) are left out."""
    record_dir = Path(record_dir)
    if not record_dir.is_dir():
        raise FileNotFoundError(f"no recording folder {record_dir} (is the sim node's record_dir set?)")
    frames = []
    for path in record_dir.iterdir():
        match = FRAME_NAME.match(path.name)
        if match is None:
            continue
        time_s = int(match.group(1)) / 1000.0
        if ((start_s is None or time_s >= start_s) and (end_s is None or time_s <= end_s)
                and (written_after is None or path.stat().st_mtime >= written_after)):
            frames.append(Frame(time_s, path))
    return sorted(frames, key=lambda f: f.time_s)


def frame_at(frames: list[Frame], time_s: float) -> Frame:
    """The last frame at or before time_s (the first one when all are later)."""
    if not frames:
        raise ValueError("no frames to choose from")
    earlier = [f for f in frames if f.time_s <= time_s]
    return earlier[-1] if earlier else frames[0]


def _read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8."""
    import imageio.v3 as iio

    image = np.asarray(iio.imread(path))
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return image[..., :3].astype(np.uint8)


def _labelled(image: np.ndarray, label: str, band_px: int) -> np.ndarray:
    """The image under a white band holding the label, (H + band_px, W, 3)."""
    from PIL import Image, ImageDraw, ImageFont

    canvas = Image.new("RGB", (image.shape[1], image.shape[0] + band_px), "white")
    canvas.paste(Image.fromarray(image), (0, band_px))
    font = ImageFont.load_default(size=max(10, int(band_px * 0.6)))
    ImageDraw.Draw(canvas).text((6, band_px // 2), label, fill="black", font=font, anchor="lm")
    return np.asarray(canvas)


def _resized(image: np.ndarray, height_px: int) -> np.ndarray:
    from PIL import Image

    width_px = max(1, round(image.shape[1] * height_px / image.shape[0]))
    return np.asarray(Image.fromarray(image).resize((width_px, height_px), Image.Resampling.LANCZOS))


def write_strip(moments: list[tuple[str, float]], frames: list[Frame], path: Path, panel_height_px: int = 180,
                band_px: int = 22) -> Path:
    """A horizontal PNG strip: for each (label, sim time s) the frame nearest before it, scaled to panel_height_px,
    labelled "<label>  t = <time> s" above it, with a 4 px white gap between panels."""
    if not moments:
        raise ValueError("a strip needs at least one moment")
    panels = []
    for label, time_s in moments:
        frame = frame_at(frames, time_s)
        image = _resized(_read_rgb(frame.path), panel_height_px)
        panels.append(_labelled(image, f"{label}  t = {frame.time_s:.1f} s", band_px))
    height = max(p.shape[0] for p in panels)
    gap = np.full((height, 4, 3), 255, np.uint8)
    padded = [np.pad(p, ((0, height - p.shape[0]), (0, 0), (0, 0)), constant_values=255) for p in panels]
    strip = np.concatenate([x for p in padded for x in (p, gap)][:-1], axis=1)
    import imageio.v3 as iio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, strip)
    return path


def recording_fps(frames: list[Frame]) -> float:
    """The recording rate, from the median interval between frames (sim time)."""
    if len(frames) < 2:
        raise ValueError(f"a video needs at least 2 frames, got {len(frames)}")
    interval_s = float(np.median(np.diff([f.time_s for f in frames])))
    if interval_s <= 0.0:
        raise ValueError("frames share one time stamp: cannot tell the recording rate")
    return 1.0 / interval_s


def write_video(frames: list[Frame], path: Path) -> Path:
    """An H.264 MP4 (yuv420p, which every player reads) of the frames at their recording rate. Odd image sizes
    are padded by one black row/column (H.264 4:2:0 needs even sizes)."""
    import imageio.v2 as imageio

    fps = recording_fps(frames)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = imageio.get_writer(path, fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=2,
                                quality=7, ffmpeg_log_level="error")
    try:
        for frame in frames:
            image = _read_rgb(frame.path)
            writer.append_data(np.pad(image, ((0, image.shape[0] % 2), (0, image.shape[1] % 2), (0, 0))))
    finally:
        writer.close()
    return path

"""The tutorial's media steps, each run from its Plan file in bubblewrap: sample data, converter, extracter,
flattener, edge tracer, gif maker. Outputs are checked with independent readers (OpenCV, Pillow), not the
programs' own code."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest
from PIL import Image

from .tutorial import Ran, run_plan

pytestmark = pytest.mark.pachyderm


def decode(video: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def stem_mp4(name: str) -> str:
    return Path(name).stem + ".mp4"


def test_sample_data_is_a_small_deterministic_mix(raw: Path, sample_data: ModuleType, tmp_path: Path) -> None:
    assert sorted(p.name for p in raw.iterdir()) == ["cat-sleeping.mov", "highway.avi", "liberty.png", "robot.jpg"]
    assert (raw / "cat-sleeping.mov").read_bytes()[4:12] == b"ftypqt  ", "a QuickTime container"
    assert (raw / "highway.avi").read_bytes()[8:12] == b"AVI ", "an AVI container"
    for name, (_, count, _, (width, height)) in sample_data.VIDEOS.items():
        frames = decode(raw / name)
        assert len(frames) == count and frames[0].shape == (height, width, 3)
        moved = [np.abs(a.astype(int) - b.astype(int)).max() > 100 for a, b in zip(frames, frames[1:], strict=False)]
        assert all(moved), f"{name}: a shape moves between every two frames"
    for name in sample_data.IMAGES:
        assert cv2.imread(str(raw / name)) is not None
    again = tmp_path / sample_data.FOLDER
    sample_data.write_raw_dataset(again)
    assert {p.name: p.read_bytes() for p in again.iterdir()} == {p.name: p.read_bytes() for p in raw.iterdir()}


def test_converter_turns_each_video_into_an_mp4(chain: dict[str, Ran], sample_data: ModuleType) -> None:
    out = chain["video_converter"].output
    assert sorted(p.name for p in out.iterdir()) == ["cat-sleeping.mp4", "highway.mp4"], "photos are skipped"
    for name, (_, count, _, (width, height)) in sample_data.VIDEOS.items():
        mp4 = out / stem_mp4(name)
        assert mp4.read_bytes()[4:12] == b"ftypisom", f"{mp4.name}: an MP4 container"
        frames = decode(mp4)
        assert len(frames) == count and frames[0].shape == (height, width, 3)
    assert "cat-sleeping.mov: converted to cat-sleeping.mp4 (24 frames)" in chain["video_converter"].log


def test_converter_copies_mp4_as_is_and_reads_suffixes_in_any_case(
    chain: dict[str, Ran], raw: Path, tmp_path: Path
) -> None:
    mix = tmp_path / "mix"
    mix.mkdir()
    shutil.copyfile(chain["video_converter"].output / "highway.mp4", mix / "clip.mp4")
    shutil.copyfile(raw / "cat-sleeping.mov", mix / "CAT.MOV")
    (mix / "notes.txt").write_text("not a video")
    ran = run_plan("video_converter", [mix], tmp_path)
    assert ran.result.ok, ran.log
    assert sorted(p.name for p in ran.output.iterdir()) == ["CAT.mp4", "clip.mp4"]
    assert (ran.output / "clip.mp4").read_bytes() == (mix / "clip.mp4").read_bytes()
    assert "clip.mp4: already mp4, copied" in ran.log and "1 other entries skipped" in ran.log


def test_converter_fails_naming_a_video_it_cannot_read(tmp_path: Path) -> None:
    mix = tmp_path / "mix"
    mix.mkdir()
    (mix / "broken.avi").write_bytes(b"RIFF\0\0\0\0AVI garbage" * 10)
    ran = run_plan("video_converter", [mix], tmp_path)
    assert not ran.result.ok and "broken.avi" in ran.log, ran.log


def test_extracter_copies_only_the_images(chain: dict[str, Ran], raw: Path, tmp_path: Path) -> None:
    out = chain["image_extracter"].output
    assert sorted(p.name for p in out.iterdir()) == ["liberty.png", "robot.jpg"]
    assert all(p.read_bytes() == (raw / p.name).read_bytes() for p in out.iterdir()), "copied byte for byte"

    mix = tmp_path / "mix"
    (mix / "sub").mkdir(parents=True)
    for name in ("A.JPEG", "b.Png", "c.gif", "d.txt", "sub/e.png"):
        (mix / name).write_bytes(b"x")
    ran = run_plan("image_extracter", [mix], tmp_path)
    assert ran.result.ok, ran.log
    assert sorted(p.name for p in ran.output.iterdir()) == ["A.JPEG", "b.Png"], "top level, png/jpg/jpeg only"


def test_flattener_writes_one_folder_of_numbered_jpeg_frames_per_video(
    chain: dict[str, Ran], sample_data: ModuleType
) -> None:
    out = chain["image_flattener"].output
    assert sorted(p.name for p in out.iterdir()) == ["cat-sleeping", "highway"]
    for name, (_, count, _, (width, height)) in sample_data.VIDEOS.items():
        frames = sorted((out / Path(name).stem).iterdir())
        assert [p.name for p in frames] == [f"frame_{i:04d}.jpg" for i in range(count)]
        assert all(p.read_bytes()[:3] == b"\xff\xd8\xff" for p in frames), "JPEG files"
        assert cv2.imread(str(frames[-1])).shape == (height, width, 3)


def edges_and_original(chain: dict[str, Ran], edges: str, original: Path) -> tuple[np.ndarray, np.ndarray]:
    traced = cv2.imread(str(chain["image_tracer"].output / edges), cv2.IMREAD_UNCHANGED)
    return traced, cv2.imread(str(original), cv2.IMREAD_GRAYSCALE)


def test_tracer_traces_every_image_and_every_frame(chain: dict[str, Ran], raw: Path, sample_data: ModuleType) -> None:
    out = chain["image_tracer"].output
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == ["liberty_edges.png", "robot_edges.jpg"]
    frames = chain["image_flattener"].output
    for name, (_, count, _, _) in sample_data.VIDEOS.items():
        video = Path(name).stem
        assert sorted(p.name for p in (out / video).iterdir()) == [f"frame_{i:04d}_edges.jpg" for i in range(count)]
    pairs = [("liberty_edges.png", raw / "liberty.png"), ("robot_edges.jpg", raw / "robot.jpg")]
    pairs += [("highway/frame_0012_edges.jpg", frames / "highway" / "frame_0012.jpg")]
    pairs += [("cat-sleeping/frame_0005_edges.jpg", frames / "cat-sleeping" / "frame_0005.jpg")]
    for edges_name, original_path in pairs:
        edges, original = edges_and_original(chain, edges_name, original_path)
        assert edges.ndim == 2 and edges.shape == original.shape, f"{edges_name}: one channel, the original's size"
        lit = edges > 127
        assert 0.005 < lit.mean() < 0.4, f"{edges_name}: thin lines, not blank and not noise ({lit.mean():.3f})"
        assert np.abs(edges.astype(int) - original.astype(int)).mean() > 20, f"{edges_name}: differs from original"
        gradient = np.hypot(cv2.Sobel(original, cv2.CV_64F, 1, 0), cv2.Sobel(original, cv2.CV_64F, 0, 1))
        near = cv2.dilate(gradient, np.ones((3, 3)))  # JPEG may shift an edge by a pixel
        assert near[lit].mean() > 4 * gradient.mean(), f"{edges_name}: the lines lie where the original changes"
    png = cv2.imread(str(out / "liberty_edges.png"), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(png)) == {0, 255}, "lossless edges are pure white on black"


def test_tracer_refuses_two_inputs_tracing_to_the_same_name(raw: Path, tmp_path: Path) -> None:
    images, frames = tmp_path / "images", tmp_path / "frames"
    images.mkdir()
    frames.mkdir()
    shutil.copyfile(raw / "liberty.png", images / "liberty.png")
    shutil.copyfile(raw / "liberty.png", frames / "liberty.png")
    ran = run_plan("image_tracer", [images, frames], tmp_path)
    assert not ran.result.ok and "would both be traced to liberty_edges.png" in ran.log, ran.log


def test_gif_maker_makes_an_original_and_an_edges_gif_per_video(chain: dict[str, Ran], sample_data: ModuleType) -> None:
    out = chain["gif"].output
    expected = sorted(f"{Path(n).stem}{suffix}.gif" for n in sample_data.VIDEOS for suffix in ("", "_edges"))
    assert sorted(p.name for p in out.iterdir()) == expected
    for name, (_, count, _, size) in sample_data.VIDEOS.items():
        video = Path(name).stem
        for gif_name, frames in (
            (f"{video}.gif", chain["image_flattener"].output / video),
            (f"{video}_edges.gif", chain["image_tracer"].output / video),
        ):
            with Image.open(out / gif_name) as gif:
                assert gif.format == "GIF" and gif.n_frames == count and gif.size == size, gif_name
                assert gif.info.get("loop") == 0, f"{gif_name}: loops forever"
                first = np.asarray(gif.convert("L"), dtype=int)
            ordered = sorted(frames.iterdir())
            first_frame, last_frame = (
                cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).astype(int) for p in (ordered[0], ordered[-1])
            )
            assert np.abs(first - first_frame).mean() < np.abs(first - last_frame).mean(), f"{gif_name}: in order"


def test_gif_frames_follow_the_numbers_in_their_names(tmp_path: Path) -> None:
    frames, empty = tmp_path / "frames", tmp_path / "empty"
    (frames / "clip").mkdir(parents=True)
    empty.mkdir()
    for number, grey in ((10, 200), (2, 20), (9, 90)):
        Image.new("L", (8, 8), grey).save(frames / "clip" / f"frame_{number}.png")
    (frames / "still.png").write_bytes(b"top-level files are not frames")
    ran = run_plan("gif", [frames, empty], tmp_path)
    assert ran.result.ok, ran.log
    assert [p.name for p in ran.output.iterdir()] == ["clip.gif"]
    with Image.open(ran.output / "clip.gif") as gif:
        greys = []
        for index in range(gif.n_frames):
            gif.seek(index)
            greys.append(int(np.asarray(gif.convert("L")).mean()))
    assert greys == [20, 90, 200], "frame_2, frame_9, frame_10: numeric order, not text order"

"""Image map files: refs normalised, contexts relative to the file, later files win, errors name file and entry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from knit_provider.core.errors import InvalidInput
from knit_provider.runners import ImageMap, normalize_image


def context(root: Path, name: str, dockerfile: bool = True) -> Path:
    path = root / name
    path.mkdir(parents=True)
    if dockerfile:
        (path / "Dockerfile").write_text("FROM scratch\n")
    return path


@pytest.mark.parametrize(
    ("ref", "normal"),
    [
        ("repo", "repo:latest"),
        ("repo:v1", "repo:v1"),
        ("localhost:30503/knitfab-first-train", "localhost:30503/knitfab-first-train:latest"),
        ("localhost:30503/knitfab-first-train:v1.0", "localhost:30503/knitfab-first-train:v1.0"),
        ("docker.io/library/python:3.11", "python:3.11"),
        ("docker.io/me/tool", "me/tool:latest"),
        ("registry.example.com:5000/a/b@sha256:" + "0" * 64, "registry.example.com:5000/a/b@sha256:" + "0" * 64),
    ],
)
def test_refs_are_normalised(ref: str, normal: str) -> None:
    assert normalize_image(ref) == normal


def test_contexts_resolve_relative_to_their_map_file_and_later_files_win(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    train, other, abs_ctx = context(first, "train"), context(second, "other"), context(tmp_path, "absolute")
    (first / "images.yaml").write_text(
        "localhost:30503/knitfab-first-train:v1.0: train\nshared: train\nplain: ../absolute\n"
    )
    (second / "images.yml").write_text(f"shared:latest: other\nabs: {abs_ctx}\n")
    image_map = ImageMap.load([first / "images.yaml", str(second / "images.yml")])
    assert image_map.resolve("localhost:30503/knitfab-first-train:v1.0") == train
    assert image_map.resolve("localhost:30503/knitfab-first-train") is None  # :latest is another image
    assert image_map.resolve("shared") == other
    assert image_map.resolve("plain:latest") == abs_ctx
    assert image_map.resolve("abs") == abs_ctx
    assert image_map.resolve("unknown:v1") is None
    assert image_map.sources == (first / "images.yaml", second / "images.yml")
    assert "shared" in image_map and "nope" not in image_map


def test_from_env_reads_a_path_list(tmp_path: Path) -> None:
    context(tmp_path, "a")
    context(tmp_path, "b")
    (tmp_path / "1.yaml").write_text("a:v1: a\n")
    (tmp_path / "2.yaml").write_text("b:v1: b\n")
    image_map = ImageMap.from_env({"KNIT_IMAGE_MAP": f"{tmp_path / '1.yaml'}{os.pathsep}{tmp_path / '2.yaml'}"})
    assert image_map.resolve("a:v1") == tmp_path / "a"
    assert image_map.resolve("b:v1") == tmp_path / "b"
    for empty in ({}, {"KNIT_IMAGE_MAP": ""}, {"KNIT_IMAGE_MAP": os.pathsep}):
        nothing = ImageMap.from_env(empty)
        assert len(nothing) == 0 and nothing.sources == ()
        assert "KNIT_IMAGE_MAP" in nothing.describe()
    (tmp_path / "empty.yaml").write_text("# nothing mapped yet\n")
    assert len(ImageMap.load([tmp_path / "empty.yaml"])) == 0


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("- a\n- b\n", r"expected a mapping 'image-ref: context-dir', got list"),
        ("repo:v1: [a, b]\n", r"entry 'repo:v1': the value must be a build-context directory, got \['a', 'b'\]"),
        ("repo:v1: ''\n", r"entry 'repo:v1': the value must be a build-context directory"),
        ("1234: ctx\n", r"entry 1234: the key must be an image ref"),
        ("'/abs/path:v1': ctx\n", r"entry '/abs/path:v1': not an image ref"),
        ("repo:v1: ctx\n  bad indent: x\n", r"2:13: not valid YAML: mapping values are not allowed here"),
    ],
)
def test_malformed_map_files_name_the_file_and_entry(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "images.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=rf"image map {path}:{'' if pattern[0].isdigit() else ' '}{pattern}"):
        ImageMap.load([path])


def test_missing_map_file_and_contexts_without_dockerfile(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=rf"image map {tmp_path / 'absent.yaml'}: cannot read it .*KNIT_IMAGE_MAP"):
        ImageMap.load([tmp_path / "absent.yaml"])
    context(tmp_path, "nodockerfile", dockerfile=False)
    path = tmp_path / "images.yaml"
    path.write_text("a:v1: nodockerfile\nb:v1: nowhere\n")
    image_map = ImageMap.load([path])  # loading is cheap; a broken entry is reported when it is used
    with pytest.raises(InvalidInput, match=rf"image map {path}: entry 'a:v1': build context .* has no Dockerfile"):
        image_map.resolve("a:v1")
    with pytest.raises(InvalidInput, match=rf"image map {path}: entry 'b:v1': build context .*nowhere does not exist"):
        image_map.resolve("b:v1")

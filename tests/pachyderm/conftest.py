"""Fixtures for the Pachyderm tutorial tests: the sample data, and the whole chain run once in bubblewrap."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from .tutorial import EXAMPLE, Ran, load_module, run_plan


@pytest.fixture(scope="session")
def sample_data() -> ModuleType:
    return load_module(EXAMPLE / "sample_data.py", "pachyderm_sample_data")


@pytest.fixture(scope="session")
def raw(sample_data: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated raw mix: two still images, a .mov and an .avi."""
    folder = tmp_path_factory.mktemp("raw") / sample_data.FOLDER
    sample_data.write_raw_dataset(folder)
    return folder


@pytest.fixture(scope="session")
def chain(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    """The seven Plans in the order Knit would run them, each output feeding the next as the tags say."""
    work = tmp_path_factory.mktemp("chain")
    ran: dict[str, Ran] = {}

    def step(name: str, *inputs: Path) -> Path:
        ran[name] = run_plan(name, list(inputs), work)
        assert ran[name].result.ok, f"{name}: {ran[name].result.message}\n{ran[name].log}"
        return ran[name].output

    mp4 = step("video_converter", raw)
    images = step("image_extracter", raw)
    frames = step("image_flattener", mp4)
    edges = step("image_tracer", images, frames)
    gifs = step("gif", frames, edges)
    shuffled = step("content_shuffler", gifs, images, edges)
    step("content_collager", shuffled)
    return ran

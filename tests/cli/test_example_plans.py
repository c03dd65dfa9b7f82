"""The plan YAMLs shipped in ``examples/`` apply unchanged with ``knit plan apply`` and chain as the tutorials intend.

first-knitfab (Knitfab's getting started), the preprocess tutorial (preprocess v1/v2 -> train -> validation) and
the Pachyderm beginner tutorial port (seven Plans with branches and joins), all into one fresh catalog.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PACHY = "project:pachyderm-beginner-tutorial"

# (file under examples/, image, input paths, output paths, log tags) in dependency order.
PLANS: dict[str, tuple[str, str, list[str], list[str], list[str]]] = {
    "preprocess-v1": (
        "preprocess/plans/preprocess-v1.yaml",
        "localhost:30503/knitfab-preprocess:v1.0",
        ["/in/data"],
        ["/out/train"],
        ["project:first-knitfab", "type:log", "type:preprocess"],
    ),
    "preprocess-v2": (
        "preprocess/plans/preprocess-v2.yaml",
        "localhost:30503/knitfab-preprocess:v2.0",
        ["/in/data"],
        ["/out/train"],
        ["project:first-knitfab", "type:log", "type:preprocess"],
    ),
    "train": (
        "first-knitfab/plans/train.yaml",
        "localhost:30503/knitfab-first-train:v1.0",
        ["/in/dataset"],
        ["/out/model"],
        ["project:first-knitfab", "type:log"],
    ),
    "validation": (
        "first-knitfab/plans/validation.yaml",
        "localhost:30503/knitfab-first-validation:v1.0",
        ["/in/dataset", "/in/model"],
        ["/out/metrics"],
        ["project:first-knitfab", "type:log", "type:validation"],
    ),
    "video_converter": (
        "pachyderm-beginner/plans/video_converter.plan.yaml",
        "lbliii/video_mp4_converter:1.0.14",
        ["/pfs/raw_videos_and_images"],
        ["/pfs/out"],
        [PACHY, "type:log"],
    ),
    "image_extracter": (
        "pachyderm-beginner/plans/image_extracter.plan.yaml",
        "975050250135.dkr.ecr.ap-northeast-1.amazonaws.com/image_extracter:1.0",
        ["/in/mix"],
        ["/out/images"],
        [PACHY, "type:log"],
    ),
    "image_flattener": (
        "pachyderm-beginner/plans/image_flattener.plan.yaml",
        "lbliii/image_flattener:1.0.0",
        ["/pfs/video_mp4_converter"],
        ["/pfs/out"],
        [PACHY, "type:log"],
    ),
    "image_tracer": (
        "pachyderm-beginner/plans/image_tracer.plan.yaml",
        "lbliii/image_tracer:1.0.8",
        ["/pfs/raw_videos_and_images", "/pfs/image_flattener"],
        ["/pfs/out"],
        [PACHY, "type:log"],
    ),
    "gif": (
        "pachyderm-beginner/plans/gif.plan.yaml",
        "lbliii/movie_gifer:1.0.5",
        ["/pfs/image_flattener", "/pfs/image_tracer"],
        ["/pfs/out"],
        [PACHY, "type:log"],
    ),
    "content_shuffler": (
        "pachyderm-beginner/plans/content_shuffler.plan.yaml",
        "lbliii/content_shuffler:1.0.0",
        ["/pfs/movie_gifer", "/pfs/raw_videos_and_images", "/pfs/image_tracer"],
        ["/pfs/out"],
        [PACHY, "type:log"],
    ),
    "content_collager": (
        "pachyderm-beginner/plans/content_collager.plan.yaml",
        "lbliii/content_collager:1.0.64",
        ["/pfs/content_shuffler"],
        ["/pfs/out"],
        [PACHY, "type:log"],
    ),
}

# (upstream plan, its output path) -> (downstream plan, its input path): every edge the tutorials intend, no more.
EDGES = {
    ("preprocess-v1", "/out/train", "train", "/in/dataset"),
    ("preprocess-v2", "/out/train", "train", "/in/dataset"),
    ("train", "/out/model", "validation", "/in/model"),
    ("video_converter", "/pfs/out", "image_flattener", "/pfs/video_mp4_converter"),
    ("image_extracter", "/out/images", "image_tracer", "/pfs/raw_videos_and_images"),
    ("image_flattener", "/pfs/out", "image_tracer", "/pfs/image_flattener"),
    ("image_flattener", "/pfs/out", "gif", "/pfs/image_flattener"),
    ("image_tracer", "/pfs/out", "gif", "/pfs/image_tracer"),
    ("gif", "/pfs/out", "content_shuffler", "/pfs/movie_gifer"),
    ("image_extracter", "/out/images", "content_shuffler", "/pfs/raw_videos_and_images"),
    ("image_tracer", "/pfs/out", "content_shuffler", "/pfs/image_tracer"),
    ("content_shuffler", "/pfs/out", "content_collager", "/pfs/content_shuffler"),
}

PACHYDERM_FILES = sorted((EXAMPLES / "pachyderm-beginner" / "plans").glob("*.yaml"))
SEED_TYPO_FILES = [*PACHYDERM_FILES, *sorted((EXAMPLES / "preprocess" / "plans").glob("*.yaml"))]


def test_every_example_plan_is_listed() -> None:
    on_disk = {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.glob("*/plans/*.yaml")}
    assert on_disk == {entry[0] for entry in PLANS.values()}
    assert len(PACHYDERM_FILES) == 7


def test_examples_apply_unchanged_and_chain(cli, workdir: Path) -> None:
    ids: dict[str, str] = {}
    for name, (rel, image, in_paths, out_paths, log_tags) in PLANS.items():
        local = workdir / f"{name}.yaml"
        shutil.copyfile(EXAMPLES / rel, local)
        applied = cli("plan", "apply", local.name)
        assert applied.code == 0, f"{rel}: {applied.stderr}"
        plan = applied.json()
        assert plan["image"] == image
        assert [i["path"] for i in plan["inputs"]] == in_paths
        assert [o["path"] for o in plan["outputs"]] == out_paths
        assert plan["log"]["tags"] == log_tags
        ids[name] = plan["planId"]
    by_id = {plan_id: name for name, plan_id in ids.items()}

    shown = {name: cli("plan", "show", plan_id).json() for name, plan_id in ids.items()}
    upstream_edges = {
        (by_id[up["plan"]["planId"]], up["mountpoint"]["path"], name, mount["path"])
        for name, plan in shown.items()
        for mount in plan["inputs"]
        for up in mount["upstreams"]
    }
    downstream_edges = {
        (name, mount["path"], by_id[down["plan"]["planId"]], down["mountpoint"]["path"])
        for name, plan in shown.items()
        for mount in plan["outputs"]
        for down in mount["downstreams"]
    }
    assert upstream_edges == EDGES
    assert downstream_edges == EDGES
    assert all(plan["log"]["downstreams"] == [] for plan in shown.values()), "no Plan consumes a log"

    # Sources: fed only by uploaded Data.
    for name in ("preprocess-v1", "preprocess-v2", "video_converter", "image_extracter"):
        assert all(mount["upstreams"] == [] for mount in shown[name]["inputs"]), name
    assert shown["validation"]["inputs"][0]["upstreams"] == [], "the test dataset is uploaded"

    # Facts the tutorials spell out.
    train, validation = shown["train"], shown["validation"]
    assert train["entrypoint"] == ["python", "-u", "train.py"]
    assert train["args"] == ["--dataset", "/in/dataset", "--save-to", "/out/model"]
    assert train["inputs"][0]["tags"] == ["mode:training", "project:first-knitfab", "type:dataset"]
    assert "description:1 hidden layer perceptron (numpy)" in train["outputs"][0]["tags"], "value trimmed as Knitfab"
    assert validation["entrypoint"][:3] == ["python", "-u", "validation.py"] and "args" not in validation
    assert validation["inputs"][0]["tags"] == ["mode:validation", "project:first-knitfab", "type:dataset"]
    assert validation["outputs"][0]["tags"] == ["project:first-knitfab", "type:metrics"]
    assert shown["preprocess-v1"]["inputs"][0]["tags"] == [
        "format:imagecsv", "project:first-knitfab", "type:data", "version:v1.0",
    ]  # fmt: skip
    assert shown["preprocess-v2"]["inputs"][0]["tags"][-1] == "version:v2.0"
    assert "entrypoint" not in shown["preprocess-v1"] and "args" not in shown["preprocess-v1"], "image defaults"
    assert shown["gif"]["resources"] == {"cpu": "1", "memory": "5Gi"}
    assert all(shown[n]["resources"] == {"cpu": "1", "memory": "1Gi"} for n in PLANS if n != "gif")
    for name in ("video_converter", "image_flattener", "image_tracer", "gif", "content_shuffler", "content_collager"):
        plan = shown[name]
        pipeline = plan["image"].removeprefix("lbliii/").partition(":")[0]  # Pachyderm's pipeline = its image
        assert "entrypoint" not in plan, "entrypoint: [] keeps the image's"
        assert plan["args"][:2] == ["python3", f"/{pipeline}.py"] and plan["args"][-2:] == ["--output", "/pfs/out/"]
        assert plan["annotations"][0].startswith("based-on=https://docs.pachyderm.com/")
        assert {f"name:{pipeline}", PACHY} <= set(plan["outputs"][0]["tags"])
    assert shown["image_extracter"]["entrypoint"] == ["python", "image_extracter.py"]
    assert shown["image_extracter"]["args"] == ["--input", "/in/mix", "--output", "/out/images"]


@pytest.mark.parametrize("path", SEED_TYPO_FILES, ids=lambda p: p.name)
def test_seed_misspelling_is_refused(cli, workdir: Path, path: Path) -> None:
    text = path.read_text()
    assert text.count("\nresources:") == 1
    (workdir / path.name).write_text(text.replace("\nresources:", "\nresouces:"))
    refused = cli("plan", "apply", path.name)
    assert refused.code == 1
    assert "did you mean 'resources'" in refused.stderr
    assert refused.stdout == ""
    assert cli("plan", "find").json() == []

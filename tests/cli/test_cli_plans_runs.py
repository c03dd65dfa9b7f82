"""``knit plan`` and ``knit run`` as a user runs them, and ``knit init`` profiles."""

from __future__ import annotations

from pathlib import Path

from cli_remote import LOCAL_ONLY
from knit_dev import lifecycle

from knit_provider.core.layout import LOG_FILE

TRAIN = """\
image: "localhost:30503/knitfab-first-train:v1.0"
inputs:
  - path: "/in/dataset"
    tags: ["type:dataset", "project:p"]
outputs:
  - path: "/out/model"
    tags: ["type:model", "project:p"]
log:
  tags: ["type:log", "project:p"]
"""


def write(workdir: Path, name: str, text: str) -> str:
    (workdir / name).write_text(text)
    return name


def test_apply_show_find_and_conflicts(cli, workdir) -> None:
    applied = cli("plan", "apply", write(workdir, "train.yaml", TRAIN))
    assert applied.code == 0, applied.stderr
    plan_id = applied.json()["planId"]
    assert cli("plan", "show", plan_id).json()["image"] == "localhost:30503/knitfab-first-train:v1.0"
    again = cli("plan", "apply", "train.yaml")
    assert again.code == 1 and plan_id in again.stderr and "equivalent" in again.stderr
    typo = cli("plan", "apply", write(workdir, "typo.yaml", TRAIN + "resouces: {cpu: 1}\n"))
    assert typo.code == 1 and "did you mean 'resources'" in typo.stderr and typo.stdout == ""
    assert cli("plan", "apply", "missing.yaml").code == 2
    assert [p["planId"] for p in cli("plan", "find", "-i", "type:dataset").json()] == [plan_id]
    assert cli("plan", "find", "--active", "no").json() == []
    assert cli("plan", "show", "nope").code == 1


def test_mutable_plan_fields(cli, workdir) -> None:
    plan_id = cli("plan", "apply", write(workdir, "train.yaml", TRAIN)).json()["planId"]
    assert cli("plan", "active", "no", plan_id).json()["active"] is False
    assert cli("plan", "active", "maybe", plan_id).code == 2
    assert cli("plan", "resource", "-s", "cpu=2", "-u", "memory", plan_id).json()["resources"] == {"cpu": "2"}
    assert cli("plan", "resource", "-s", "cpu", plan_id).code == 2
    assert cli("plan", "resource", "-s", "cpu=lots", plan_id).code == 1
    annotated = cli("plan", "annotate", "--add", "owner=me", "--add", "team=ml", plan_id).json()
    assert annotated["annotations"] == ["owner=me", "team=ml"]
    assert cli("plan", "annotate", "--remove-key", "owner", plan_id).json()["annotations"] == ["team=ml"]
    assert cli("plan", "serviceaccount", "--set", "trainer", plan_id).json()["service_account"] == "trainer"
    assert "service_account" not in cli("plan", "serviceaccount", "--unset", plan_id).json()
    assert cli("plan", "serviceaccount", plan_id).code == 2


def test_runs_find_show_log_stop_retry_rm(cli, workdir, folder, cli_catalog) -> None:
    plan_id = cli("plan", "apply", write(workdir, "train.yaml", TRAIN)).json()["planId"]
    folder("d")
    knit_id = cli("data", "push", "-t", "type:dataset", "-t", "project:p", "d").json()["knitId"]
    (run,) = cli("run", "find", "-p", plan_id).json()
    assert run["status"] == "waiting" and run["inputs"][0]["knitId"] == knit_id
    assert [r["runId"] for r in cli("run", "find", "-i", knit_id, "-s", "waiting").json()] == [run["runId"]]
    assert cli("run", "find", "-s", "nonsense").code == 2, "a usage error, as Knitfab"
    assert cli("run", "stop", run["runId"]).code == 1, "waiting cannot be torn off"
    knit = cli_catalog  # play the runner: start, log, finish done
    lifecycle.start(knit, run["runId"])
    log_dir = knit.store.create_empty(run["log"]["knitId"])
    (log_dir / LOG_FILE).write_text("epoch 1: loss 0.5\n")
    lifecycle.finish(knit, run["runId"], exit_code=0)
    assert cli("run", "show", run["runId"]).json()["status"] == "done"
    log = cli("run", "show", "--log", run["runId"])
    assert log.code == 0 and log.stdout == "epoch 1: loss 0.5\n"
    assert cli("run", "show", "--log", "-f", run["runId"]).stdout == "epoch 1: loss 0.5\n"
    assert cli("run", "show", "-f", run["runId"]).code == 2
    retried = cli("run", "retry", run["runId"])
    assert retried.code == 0 and retried.json()["status"] == "waiting"
    assert "requested to retry Run" in retried.stderr
    stopped = cli("run", "stop", "--fail", run["runId"])
    assert stopped.code == 0 and stopped.json()["exit"] == {"code": 253, "message": "aborted by user"}
    assert cli("run", "rm", run["runId"]).code == 0
    assert cli("run", "show", run["runId"]).json()["status"] == "invalidated"
    assert cli("run", "rm", run["runId"]).code == 1


@LOCAL_ONLY
def test_init_profile_points_a_directory_at_its_catalog(cli, workdir, folder, tmp_path) -> None:
    project = workdir / "project"
    project.mkdir()
    other_home = tmp_path / "other-home"
    import os

    os.chdir(project)
    assert cli("init", "--home", str(other_home), "mine").code == 0
    assert (project / ".knitprofile").read_text() == "mine"
    (project / "sub").mkdir()
    os.chdir(project / "sub")
    folder("d")
    assert cli("data", "push", "-t", "a:1", str(workdir / "d")).code == 0
    assert (other_home / "catalog.db").exists(), "the profile's home, found upward, was used"
    os.chdir(workdir)
    assert cli("data", "find").json() == [], "outside the project: the environment's catalog"


def test_plan_template_scratch_and_from_dir_apply_unchanged(cli, workdir) -> None:
    (workdir / "knitenv").write_text("tag: [project:tmpl]\nresource: {cpu: 2, memory: 2Gi}\n")
    scratch = cli("plan", "template", "--scratch")
    assert scratch.code == 0, scratch.stderr
    assert 'image: "image:version"' in scratch.stdout and "project:tmpl" in scratch.stdout
    context = workdir / "trainer"
    context.mkdir()
    (context / "Dockerfile").write_text(
        'FROM python:3.11\nWORKDIR /app\nVOLUME ["/in/dataset", "/out/model"]\n'
        'ENTRYPOINT ["python", "train.py"]\nCMD ["--epochs", "3"]\n'
    )
    from_dir = cli("plan", "template", "--from-dir", "trainer", "repo/trainer:v1")
    assert from_dir.code == 0, from_dir.stderr
    write(workdir, "from-dir.yaml", from_dir.stdout)
    applied = cli("plan", "apply", "from-dir.yaml").json()
    assert applied["image"] == "repo/trainer:v1"
    assert applied["entrypoint"] == ["python", "train.py"] and applied["args"] == ["--epochs", "3"]
    assert [i["path"] for i in applied["inputs"]] == ["/in/dataset"]
    assert "type:dataset" in applied["inputs"][0]["tags"] and "project:tmpl" in applied["inputs"][0]["tags"]
    assert cli("plan", "template", "--scratch", "repo/x:v1").code == 2
    assert cli("plan", "template", "-i", "missing.tar").code == 2
    not_a_tar = cli("plan", "template", "-i", write(workdir, "junk.tar", "junk"))
    assert not_a_tar.code == 1 and not_a_tar.stdout == ""


def test_lineage_and_plan_graph_dot_svg_png(cli, workdir, folder) -> None:
    plan_id = cli("plan", "apply", write(workdir, "train.yaml", TRAIN)).json()["planId"]
    folder("d")
    knit_id = cli("data", "push", "-t", "type:dataset", "-t", "project:p", "-t", 'note:<b>"x"</b>', "d").json()[
        "knitId"
    ]
    dot = cli("data", "lineage", knit_id)
    assert dot.code == 0, dot.stderr
    assert dot.stdout.startswith("digraph G {") and f'"d{knit_id}"' in dot.stdout
    assert "<b>" not in dot.stdout and "&lt;b&gt;" in dot.stdout, "tag text is escaped"
    assert cli("data", "lineage", "-n", "0", knit_id).code == 1
    assert cli("data", "lineage", "--format", "svg", knit_id).code == 2, "svg needs -o"
    assert cli("data", "lineage", "--format", "svg", "-o", "l.svg", "-n", "all", knit_id).code == 0
    assert (workdir / "l.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    assert cli("plan", "graph", "--format", "png", "-o", "p.png", plan_id).code == 0
    assert (workdir / "p.png").read_bytes().startswith(b"\x89PNG")
    assert f'"p{plan_id}"' in cli("plan", "graph", plan_id).stdout
    assert cli("data", "lineage", "nope").code == 1


def docker_save_tar(repo_tag: str, config: dict) -> bytes:
    """A minimal ``docker save`` archive: manifest.json naming one image config."""
    import io
    import json
    import tarfile

    buffer = io.BytesIO()
    members = {
        "manifest.json": json.dumps([{"Config": "cfg.json", "RepoTags": [repo_tag], "Layers": []}]).encode(),
        "cfg.json": json.dumps({"config": config}).encode(),
    }
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def test_plan_template_from_docker_save_tar_file_and_stdin(cli, workdir) -> None:
    archive = docker_save_tar(
        "localhost:30503/knitfab-first-train:v1.0",
        {"Entrypoint": ["python", "-u", "train.py"], "Cmd": ["--dataset", "/in/dataset", "--save-to", "/out/model"],
         "WorkingDir": "/work"},
    )  # fmt: skip
    (workdir / "image.tar").write_bytes(archive)
    from_file = cli("plan", "template", "-i", "image.tar")
    from_stdin = cli("plan", "template", input=archive)
    assert from_file.code == 0 and from_stdin.code == 0, from_file.stderr + from_stdin.stderr
    assert from_file.stdout == from_stdin.stdout
    write(workdir, "from-tar.yaml", from_file.stdout)
    applied = cli("plan", "apply", "from-tar.yaml").json()
    assert applied["image"] == "localhost:30503/knitfab-first-train:v1.0"
    assert applied["entrypoint"] == ["python", "-u", "train.py"]
    assert [i["path"] for i in applied["inputs"]] == ["/in/dataset"]
    assert [o["path"] for o in applied["outputs"]] == ["/out/model"]
    assert "type:model" in applied["outputs"][0]["tags"]
    missing_tag = cli("plan", "template", "-i", "image.tar", "other/image:v9")
    assert missing_tag.code == 1 and "specified image tag 'other/image:v9' is not found" in missing_tag.stderr

"""`knit plan template`: docker save tars (docker and OCI layouts), Dockerfiles, knitenv, and the rendered YAML."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from knit_provider.core.errors import InvalidInput
from knit_provider.core.knitenv import KnitEnv, find_knitenv, load_knitenv
from knit_provider.core.plan_spec import PlanSpec, parse_plan_yaml
from knit_provider.core.plan_template import (
    ImageConfig,
    detect_mounts,
    read_docker_save,
    read_dockerfile,
    template_from_image,
    template_scratch,
)
from knit_provider.core.tags import Tag

FIRST_TRAIN = {
    "Entrypoint": ["python", "-u", "train.py"],
    "Cmd": ["--dataset", "/in/dataset", "--save-to", "/out/model"],
    "WorkingDir": "/work",
    "Env": ["PATH=/usr/bin", "MODE=a=b"],
}


# ---------------------------------------------------------------------------------------------------------------
# Building docker save tars


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _config_json(config: dict[str, Any]) -> bytes:
    doc = {"architecture": "amd64", "os": "linux", "config": config, "rootfs": {"type": "layers", "diff_ids": []}}
    return json.dumps(doc).encode()


def _layer() -> bytes:
    return _tar([("app/train.py", b"print('hi')\n" * 1000)])


def docker_save(images: list[tuple[list[str], dict[str, Any]]]) -> bytes:
    """The classic layout: layers, one config JSON per image, then manifest.json (last, as docker writes it)."""
    members: list[tuple[str, bytes]] = []
    manifest = []
    for index, (repo_tags, config) in enumerate(images):
        blob = _config_json(config)
        name = hashlib.sha256(blob).hexdigest() + ".json"
        members += [(f"layer{index}/layer.tar", _layer()), (name, blob)]
        manifest.append({"Config": name, "RepoTags": repo_tags, "Layers": [f"layer{index}/layer.tar"]})
    members.append(("manifest.json", json.dumps(manifest).encode()))
    return _tar(members)


def oci_save(
    images: list[tuple[str | None, dict[str, Any]]], *, nested: bool = False, with_manifest: bool = False
) -> bytes:
    """The OCI image layout (index.json + blobs/sha256/...); ``nested`` wraps each manifest in a multi-platform index
    whose first entry's blobs are missing and which carries an attestation manifest, as buildkit writes."""
    blobs: dict[str, bytes] = {}

    def add(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return digest

    index_entries = []
    docker_manifest = []
    for name, config in images:
        config_digest = add(_config_json(config))
        layer_digest = add(_layer())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest}],
        }
        descriptor: dict[str, Any] = {"mediaType": manifest["mediaType"], "digest": add(json.dumps(manifest).encode())}
        if nested:
            attestation = {"schemaVersion": 2, "config": {"digest": config_digest}, "layers": []}
            inner = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [
                    {"digest": "sha256:" + "0" * 64, "platform": {"os": "linux", "architecture": "s390x"}},
                    {**descriptor, "platform": {"os": "linux", "architecture": "amd64"}},
                    {
                        "digest": add(json.dumps(attestation).encode()),
                        "platform": {"os": "unknown", "architecture": "unknown"},
                        "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
                    },
                ],
            }
            descriptor = {"mediaType": inner["mediaType"], "digest": add(json.dumps(inner).encode())}
        if name is not None:
            descriptor["annotations"] = {
                "io.containerd.image.name": f"docker.io/library/{name}",
                "org.opencontainers.image.ref.name": name.rpartition(":")[2],
            }
        index_entries.append(descriptor)
        docker_manifest.append(
            {"Config": "blobs/" + config_digest.replace(":", "/"), "RepoTags": [name] if name else [], "Layers": []}
        )
    members = [("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')]
    members += [("blobs/" + digest.replace(":", "/"), data) for digest, data in blobs.items()]
    members.append(("index.json", json.dumps({"schemaVersion": 2, "manifests": index_entries}).encode()))
    if with_manifest:
        members.append(("manifest.json", json.dumps(docker_manifest).encode()))
    return _tar(members)


class _Pipe(io.RawIOBase):
    """A non-seekable stream, like stdin fed by `docker save | knit plan template`."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(min(len(buffer), 517))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _plan(config: ImageConfig, tags: list[str] | None = None, resources: dict[str, str] | None = None) -> PlanSpec:
    return parse_plan_yaml(template_from_image(config, env_tags=tags or [], env_resources=resources or {}))


def _mounts(specs: Any) -> dict[str, list[str]]:
    return {spec.path: [str(t) for t in spec.tags] for spec in specs}


# ---------------------------------------------------------------------------------------------------------------
# docker save


def test_docker_layout_first_train_example() -> None:
    config = read_docker_save(_Pipe(docker_save([(["localhost:30503/first-train:v1.0"], FIRST_TRAIN)])), None)
    assert config == ImageConfig(
        repository="localhost:30503/first-train",
        tag="v1.0",
        entrypoint=["python", "-u", "train.py"],
        cmd=["--dataset", "/in/dataset", "--save-to", "/out/model"],
        volumes=[],
        workdir="/work",
        env={"PATH": "/usr/bin", "MODE": "a=b"},
    )
    text = template_from_image(config, env_tags=["project:p"], env_resources={})
    plan = parse_plan_yaml(text)
    assert plan.image == "localhost:30503/first-train:v1.0"
    assert plan.entrypoint == ("python", "-u", "train.py")
    assert plan.args == ("--dataset", "/in/dataset", "--save-to", "/out/model")
    assert _mounts(plan.inputs) == {"/in/dataset": ["project:p", "type:dataset"]}
    assert _mounts(plan.outputs) == {"/out/model": ["project:p", "type:model"]}
    assert plan.log is not None and [str(t) for t in plan.log.tags] == ["project:p", "type:log"]
    assert plan.resources == {"cpu": "1", "memory": "1Gi"}
    # Knitfab's layout: flow sequences of double-quoted strings, quoted paths and tags, knitenv tags first.
    assert 'entrypoint: ["python", "-u", "train.py"]\n' in text
    assert 'args: ["--dataset", "/in/dataset", "--save-to", "/out/model"]\n' in text
    assert 'inputs:\n  - path: "/in/dataset"\n    tags:\n      - "project:p"\n      - "type:dataset"\n' in text
    assert 'log:\n  tags:\n    - "type:log"\n    - "project:p"\n' in text
    assert text.startswith("\n\n# annotations (optional, mutable):\n")
    assert text.endswith('# service_account: "default"\n\n')
    keys = [line.split(":")[0] for line in text.splitlines() if line and line[0].isalpha()]
    assert keys == ["annotations", "image", "entrypoint", "args", "inputs", "outputs", "log", "active", "resources"]
    assert "resouces" not in text and "\n# on_node:\n" in text and "\n# service_account:" in text


@pytest.mark.parametrize(("nested", "with_manifest"), [(False, False), (True, False), (False, True)])
def test_oci_layout(nested: bool, with_manifest: bool) -> None:
    data = oci_save(
        [("train:v2", {**FIRST_TRAIN, "Volumes": {"/in/extra": {}}})], nested=nested, with_manifest=with_manifest
    )
    config = read_docker_save(io.BytesIO(data), None)
    assert (config.repository, config.tag, config.workdir) == ("train", "v2", "/work")
    assert config.volumes == ["/in/extra"]
    plan = _plan(config)
    assert _mounts(plan.inputs) == {"/in/dataset": ["type:dataset"], "/in/extra": ["type:extra"]}
    assert read_docker_save(io.BytesIO(data), "docker.io/library/train:v2").image == "docker.io/library/train:v2"


def test_multiple_images_need_a_tag() -> None:
    data = docker_save([(["a:1"], {"Cmd": ["/in/x"]}), (["b:2", "b:latest"], {"Cmd": ["/in/y"]})])
    with pytest.raises(InvalidInput, match="^multiple images found, specify the image tag$"):
        read_docker_save(io.BytesIO(data), None)
    config = read_docker_save(io.BytesIO(data), "b:latest")
    assert (config.repository, config.tag, config.cmd) == ("b", "latest", ["/in/y"])
    with pytest.raises(InvalidInput, match="^specified image tag 'c:3' is not found$"):
        read_docker_save(io.BytesIO(data), "c:3")
    oci = oci_save([("a:1", {"Cmd": ["/in/x"]}), ("b:2", {"Cmd": ["/in/y"]})])
    with pytest.raises(InvalidInput, match="^multiple images found"):
        read_docker_save(io.BytesIO(oci), None)
    assert read_docker_save(io.BytesIO(oci), "b:2").cmd == ["/in/y"]


def test_one_image_with_several_tags_takes_the_first() -> None:
    config = read_docker_save(io.BytesIO(docker_save([(["x/y:1", "x/y:2"], {"Cmd": ["/in/d"]})])), None)
    assert config.image == "x/y:1"


def test_no_image_found() -> None:
    with pytest.raises(InvalidInput, match="^no image found$"):
        read_docker_save(io.BytesIO(_tar([("manifest.json", b"[]")])), None)


def test_untagged_image_falls_back_to_IMAGE_TAG() -> None:
    config = read_docker_save(io.BytesIO(docker_save([([], {"Cmd": ["/in/d"]})])), None)
    assert config.image == "IMAGE:TAG"
    text = template_from_image(config, env_tags=[], env_resources={})
    assert 'image: "IMAGE:TAG"' in text and "replace IMAGE" in text
    assert parse_plan_yaml(text.replace("IMAGE:TAG", "mine:v1")).image == "mine:v1"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"not a tar at all" * 100, "cannot read the image tar"),
        (b"", "cannot read the image tar"),
        (_tar([("hello.txt", b"hi")]), "neither manifest.json nor index.json"),
        (_tar([("manifest.json", b'[{"Config": "missing.json", "RepoTags": ["a:1"]}]')]), "'missing.json' is not in"),
        (_tar([("manifest.json", b'{"not": "a list"}')]), "not a list"),
    ],
)
def test_broken_tars(data: bytes, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        read_docker_save(io.BytesIO(data), None)


# ---------------------------------------------------------------------------------------------------------------
# Mount detection and rendering


def test_relative_paths_resolve_against_workdir_and_type_tag_skips_own_kind() -> None:
    config = ImageConfig("r", "t", None, ["in/data/", "./out", "/in/out", "/x/../in"], ["/out/in/"], "/work")
    inputs, outputs, notes = detect_mounts(config)
    assert (inputs, outputs, notes) == (["/in", "/out/in", "/work/in/data"], ["/work/out"], ["input path '/in/out' was"
                                        " left out: it overlaps input path '/in'"])  # fmt: skip
    plan = _plan(config)
    # "/in" alone has no type tag: it falls back to example:tag; "/work/out" (an output) is typed by "work".
    assert _mounts(plan.inputs) == {"/in": ["example:tag"], "/out/in": ["type:out"], "/work/in/data": ["type:data"]}
    assert _mounts(plan.outputs) == {"/work/out": ["type:work"]}


def test_overlapping_paths_keep_the_outer_and_say_so() -> None:
    config = ImageConfig("r", "t", None, ["/in/dataset/train", "/out/model"], ["/in/dataset", "/out"], "")
    text = template_from_image(config, env_tags=["p:q"], env_resources={})
    plan = parse_plan_yaml(text)
    assert _mounts(plan.inputs) == {"/in/dataset": ["p:q", "type:dataset"]}
    assert _mounts(plan.outputs) == {"/out": ["p:q"]}
    assert "#   NOTE: input path '/in/dataset/train' was left out: it overlaps input path '/in/dataset'" in text
    assert "#   NOTE: output path '/out/model' was left out" in text


def test_shell_form_strings_are_split_into_words() -> None:
    config = ImageConfig("r", "t", ["/bin/sh", "-c", "python x.py --data '/in/my data' --save=/out/m"], None, [], "/")
    plan = _plan(config)
    assert _mounts(plan.inputs) == {"/in/my data": ["type:my data"]}
    assert _mounts(plan.outputs) == {"/out/m": ["type:m"]}
    assert plan.entrypoint == ("/bin/sh", "-c", "python x.py --data '/in/my data' --save=/out/m")


def test_no_input_gives_a_placeholder_and_a_note() -> None:
    config = ImageConfig("r", "t", ["python"], ["x.py", "/out/a"], [], "/")
    text = template_from_image(config, env_tags=["project:p"], env_resources={})
    plan = parse_plan_yaml(text)
    assert _mounts(plan.inputs) == {"/in": ["project:p"]}
    assert "no input was detected" in text
    # The placeholder moves aside when an output occupies /in.
    taken = _plan(ImageConfig("r", "t", None, ["out"], [], "/in"))
    assert _mounts(taken.inputs) == {"/in-1": ["example:tag"]} and _mounts(taken.outputs) == {"/in/out": ["type:in"]}


def test_resources_and_odd_strings_round_trip() -> None:
    config = ImageConfig("r", "t", ['say "hi"\\', "tab\there", "é\u2028"], ["--in=/in/a"], [], "/")
    resources = {"memory": "512Mi", "cpu": "0.5", "nvidia.com/gpu": "1"}
    text = template_from_image(config, env_tags=['note:say "hi"', " team : ml "], env_resources=resources)
    plan = parse_plan_yaml(text)
    assert plan.entrypoint == ('say "hi"\\', "tab\there", "é\u2028")
    assert plan.resources == {"cpu": "0.5", "memory": "512Mi", "nvidia.com/gpu": "1"}
    assert Tag("note", 'say "hi"') in plan.inputs[0].tags and Tag("team", "ml") in plan.inputs[0].tags
    assert "  memory: 512Mi\n" in text and '  cpu: "0.5"\n' in text
    with pytest.raises(InvalidInput, match="knitenv resource.cpu"):
        template_from_image(config, env_tags=[], env_resources={"cpu": "lots"})
    with pytest.raises(InvalidInput, match="cannot be set"):
        template_from_image(config, env_tags=["knit#id:x"], env_resources={})


def test_scratch_template() -> None:
    text = template_scratch(env_tags=[], env_resources={})
    plan = parse_plan_yaml(text)
    assert plan.image == "image:version" and plan.entrypoint is None and plan.args is None
    assert _mounts(plan.inputs) == {"/in": ["example:tag"]} and _mounts(plan.outputs) == {"/out": ["example:tag"]}
    assert 'log:\n  tags:\n    - "type:log"\n    - "example:tag"\n' in text
    assert "entrypoint: []\n" in text and "args: []\n" in text and "annotations: []\n" in text
    assert yaml.safe_load(text)["active"] is True
    withenv = parse_plan_yaml(
        template_scratch(env_tags=["project:p", "a:b"], env_resources={"memory": "2Gi"}, image="me/x:1")
    )
    assert withenv.image == "me/x:1" and withenv.resources == {"cpu": "1", "memory": "2Gi"}
    assert _mounts(withenv.inputs) == {"/in": ["a:b", "project:p"]}
    with pytest.raises(InvalidInput, match="needs a tag"):
        template_scratch(env_tags=[], env_resources={}, image="notag")


# ---------------------------------------------------------------------------------------------------------------
# Dockerfile


def _dockerfile(tmp_path: Path, text: str, name: str = "ctx") -> Path:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "Dockerfile").write_text(text)
    return directory


def test_dockerfile_exec_and_shell_forms(tmp_path: Path) -> None:
    ctx = _dockerfile(
        tmp_path,
        """\
# syntax=docker/dockerfile:1
FROM python:3.12
WORKDIR /work
ENTRYPOINT ["python", "-u", "train.py"]
CMD ["--dataset", "/in/dataset", "--save-to", "/out/model"]
""",
        name="First_Train Project",
    )
    config = read_dockerfile(ctx, None)
    assert config == ImageConfig(
        "first-train-project", "latest", ["python", "-u", "train.py"],
        ["--dataset", "/in/dataset", "--save-to", "/out/model"], [], "/work", {},
    )  # fmt: skip
    plan = _plan(config)
    assert plan.image == "first-train-project:latest"
    assert _mounts(plan.inputs) == {"/in/dataset": ["type:dataset"]}
    assert read_dockerfile(ctx, "registry:5000/team/train:v3").image == "registry:5000/team/train:v3"
    assert read_dockerfile(ctx, "registry:5000/team/train").image == "registry:5000/team/train:latest"
    shell = _dockerfile(tmp_path, "FROM alpine\nCMD python x.py /in/a\n", name="s")
    assert read_dockerfile(shell, None).cmd == ["/bin/sh", "-c", "python x.py /in/a"]
    bash = _dockerfile(tmp_path, 'FROM alpine\nSHELL ["/bin/bash", "-lc"]\nENTRYPOINT exec run\n', name="b")
    assert read_dockerfile(bash, None).entrypoint == ["/bin/bash", "-lc", "exec run"]


def test_dockerfile_continuations_comments_heredoc_and_multistage(tmp_path: Path) -> None:
    ctx = _dockerfile(
        tmp_path,
        """\
ARG PY=3.12
FROM python:${PY} AS builder
CMD ["builder-only"]
VOLUME /in/builder
RUN <<EOF
CMD ["from-heredoc"]
EOF

from builder as base
  # a comment inside the stage
WORKDIR /app
ENTRYPOINT ["python", \\
# a comment inside a continuation
    "main.py"]
cmd ["--in", "/in/x", \\

    "--out", "out/y"]

FROM base
VOLUME ["/out/logs"]
""",
    )
    config = read_dockerfile(ctx, None)
    assert config.entrypoint == ["python", "main.py"]
    assert config.cmd == ["--in", "/in/x", "--out", "out/y"]
    assert config.volumes == ["/in/builder", "/out/logs"]
    assert config.workdir == "/app"
    plan = _plan(config)
    assert sorted(_mounts(plan.inputs)) == ["/in/builder", "/in/x"]
    assert sorted(_mounts(plan.outputs)) == ["/app/out/y", "/out/logs"]
    external = _dockerfile(tmp_path, "FROM a AS one\nCMD x\nFROM b\nVOLUME /in/z\n", name="ext")
    assert read_dockerfile(external, None).cmd is None  # the last stage counts; an external base is unknown


def test_dockerfile_here_string_is_not_a_heredoc(tmp_path: Path) -> None:
    ctx = _dockerfile(tmp_path, 'FROM a\nRUN cat <<<EOF\nCMD ["/in/x"]\nRUN <<-"END" sh\n\tCMD ["no"]\n\tEND\n')
    assert read_dockerfile(ctx, None).cmd == ["/in/x"]


def test_dockerfile_entrypoint_drops_inherited_cmd_only(tmp_path: Path) -> None:
    inherited = _dockerfile(tmp_path, 'FROM a AS base\nCMD ["x"]\nFROM base\nENTRYPOINT ["run"]\n', name="i")
    assert read_dockerfile(inherited, None).cmd is None
    same = _dockerfile(tmp_path, 'FROM a\nCMD ["x"]\nENTRYPOINT ["run"]\n', name="s")
    assert read_dockerfile(same, None).cmd == ["x"]


def test_dockerfile_workdir_volume_forms_and_substitution(tmp_path: Path) -> None:
    ctx = _dockerfile(
        tmp_path,
        """\
ARG ROOT=/srv
FROM alpine
ARG ROOT
ARG SUB=data
ENV OUT=${ROOT}/out BASE=$ROOT
ENV GREETING hello "big" world
ENV A=1
ENV A=2 B=$A C="two words" D='$A' E=\\$A F=${MISSING:-dflt} G=${A:+set}
WORKDIR $BASE
WORKDIR ${SUB}
WORKDIR ../work
VOLUME $OUT/model in/${SUB}
VOLUME ["/in/json", "${OUT}/json"]
""",
    )
    config = read_dockerfile(ctx, None)
    assert config.workdir == "/srv/work"
    assert config.volumes == ["/srv/out/model", "in/data", "/in/json", "/srv/out/json"]
    assert config.env == {
        "OUT": "/srv/out", "BASE": "/srv", "GREETING": "hello big world",
        "A": "2", "B": "1", "C": "two words", "D": "$A", "E": "$A", "F": "dflt", "G": "set",
    }  # fmt: skip
    inputs, outputs, _ = detect_mounts(config)
    assert inputs == ["/in/json", "/srv/work/in/data"] and outputs == ["/srv/out/json", "/srv/out/model"]
    assert _mounts(_plan(config).outputs) == {"/srv/out/json": ["type:json"], "/srv/out/model": ["type:model"]}


def test_dockerfile_escape_directive(tmp_path: Path) -> None:
    ctx = _dockerfile(tmp_path, '# escape=`\nFROM a\nCMD ["c:\\\\in\\\\x", `\n  "/in/y"]\n')
    assert read_dockerfile(ctx, None).cmd == ["c:\\in\\x", "/in/y"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("CMD x\n", "CMD before the first FROM"),
        ("# only a comment\n", "no FROM instruction"),
        ("FROM a\nENV =x\n", "must be written name=value"),
        ("FROM a\n[oops]\n", "not a Dockerfile instruction"),
    ],
)
def test_dockerfile_errors(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        read_dockerfile(_dockerfile(tmp_path, text), None)


def test_dockerfile_missing_and_bad_image(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read .*Dockerfile"):
        read_dockerfile(tmp_path, None)
    ctx = _dockerfile(tmp_path, "FROM a\n")
    with pytest.raises(InvalidInput, match="image"):
        read_dockerfile(ctx, "Bad Name:1")


# ---------------------------------------------------------------------------------------------------------------
# knitenv


def test_find_knitenv_walks_up(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (tmp_path / "knitenv").write_text('tag: ["x:1"]\n')
    (tmp_path / "a" / "knitenv").write_text('tag: ["project:p", "project:p", "type : raw"]\n')
    (tmp_path / "a" / "b" / "knitenv").mkdir()  # a directory named knitenv is not a knitenv file
    found = find_knitenv(deep)
    assert found == tmp_path / "a" / "knitenv"
    assert load_knitenv(found) == KnitEnv(tags=["project:p", "type:raw"], resources={})
    assert find_knitenv(tmp_path) == tmp_path / "knitenv"


def test_find_knitenv_none(tmp_path: Path) -> None:
    if any((parent / "knitenv").is_file() for parent in tmp_path.parents):
        pytest.skip("a knitenv file exists above the temporary directory")
    assert find_knitenv(tmp_path) is None


def test_load_knitenv_values_and_empty(tmp_path: Path) -> None:
    path = tmp_path / "knitenv"
    assert load_knitenv(None) == KnitEnv() and load_knitenv(path) == KnitEnv()
    path.write_text("")
    assert load_knitenv(path) == KnitEnv()
    path.write_text("tag:\n  - project:p\nresource:\n  cpu: 0.5\n  memory: 2Gi\n  nvidia.com/gpu: 1\n")
    assert load_knitenv(path) == KnitEnv(["project:p"], {"cpu": "0.5", "memory": "2Gi", "nvidia.com/gpu": "1"})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tag: [\n", "not valid YAML"),
        ("- a:b\n", "must be a mapping"),
        ('tags: ["a:b"]\n', "unknown key 'tags' \\(did you mean 'tag'\\?\\)"),
        ('tag: "a:b"\n', "tag: must be a list"),
        ('tag: ["nocolon"]\n', "tag\\[0\\]: tag 'nocolon' has no ':'"),
        ("tag:\n  - ok:1\n  - project: p\n", "tag\\[1\\]: tag .* was read as a mapping"),
        ('tag: ["knit#id:x"]\n', "tag\\[0\\]: system tag"),
        ("resource: [1]\n", "resource: must be a mapping"),
        ("resource:\n  cpu: lots\n", "resource.cpu: 'lots' is not a Kubernetes quantity"),
        ("resource:\n  bad name!: 1\n", "resource.bad name!"),
    ],
)
def test_load_knitenv_errors_name_the_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "knitenv"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=f"^knitenv {path}(:2:1)?: .*{fragment}"):
        load_knitenv(path)

"""Runs as pods with Data on S3 and no shared volume anywhere: the real KubernetesPodOperator on a real
``airflow standalone`` (runner = kubernetes, ``[knit] data_store = s3://...`` through an Airflow connection),
against the Kubernetes API stand-in, whose pods fetch their inputs in an init container and upload their outputs
from a native sidecar (the stager, ``python3 -m knit_provider.stager``), with credentials from a Secret.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from knit_dev.docker import DEBIAN_PYTHON_IMAGE
from knit_dev.kube_standin import KubeStandin
from knit_dev.s3 import MotoServer
from knit_dev.stager import stager_context
from knit_dev.standalone import Standalone, free_port
from knit_dev.waiting import wait_until

from knit_provider.core.airflow_names import plan_dag_id
from knit_provider.runners.image_map import ImageMap
from knit_provider.runners.kubernetes.pod_spec import LABEL
from knit_provider.service import Knit, StoreSpec, data, plans, runs

pytestmark = [pytest.mark.object_store, pytest.mark.kubernetes, pytest.mark.e2e, pytest.mark.slow]

SH = "knit-e2e/sh:1.0"
STAGER = "knit-e2e/stager:1.0"
SECRET = "knit-store"


def sh_plan(tag: str, script: str) -> str:
    return (
        f"image: {SH}\nargs: [{script!r}]\n"
        f"inputs: [{{path: /in/x, tags: ['{tag}']}}]\n"
        f"outputs: [{{path: /out/y, tags: ['{tag}-out']}}]\n"
        "log: {tags: ['s3:log']}\n"
    )


PLAN_TEXTS = {
    "copy": sh_plan(
        "s3:copy",
        "cat /in/x/a.txt > /out/y/b.txt; echo copied-it; touch /in/x/no 2>/dev/null && echo WROTE-INPUT; true",
    ),  # fmt: skip
    "fail": sh_plan("s3:fail", "echo partial > /out/y/part.txt; echo failing; exit 3"),
    "lost": sh_plan("s3:lost", "true"),
}


class _Airflow(Standalone):
    """No AWS variable reaches Airflow: the store's endpoint and credentials come from its connection only."""

    def env(self) -> dict[str, str]:
        return {k: v for k, v in super().env().items() if not k.startswith(("AWS_", "KNIT_DATA_STORE"))}


class Deployment:
    def __init__(self, kube: KubeStandin, knit: Knit, s3: MotoServer, bucket: str) -> None:
        self.kube, self.knit, self.s3, self.bucket = kube, knit, s3, bucket

    def push(self, root: Path, files: dict[str, str], tags: list[str]) -> str:
        root.mkdir(parents=True)
        for name, text in files.items():
            (root / name).write_text(text)
        return data.push_dir(self.knit, root, tags)["knitId"]

    def ended(self, plan: dict, timeout: float = 180) -> dict:
        (run,) = wait_until(lambda: runs.find(self.knit, plan_ids=[plan["planId"]]), 60, "the Run exists")
        wait_until(lambda: runs.show(self.knit, run["runId"])["status"] in ("done", "failed"), timeout, "it ends")
        return runs.show(self.knit, run["runId"])

    def pod_of(self, run_id: str) -> dict:
        (pod,) = [p for p in self.kube.deleted if p["metadata"]["labels"].get(LABEL.RUN) == run_id]
        return pod


@pytest.fixture(scope="module")
def deployment(s3_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("kpo-s3-home")
    bucket = s3_server.bucket("knit-kpo-e2e")
    url = f"s3://{bucket}/runs"
    images = tmp_path_factory.mktemp("kpo-s3-images")
    (images / "sh").mkdir()
    (images / "sh" / "Dockerfile").write_text(f'FROM {DEBIAN_PYTHON_IMAGE}\nWORKDIR /\nENTRYPOINT ["sh", "-c"]\n')
    stager_context(images / "stager")  # an image holding this package
    (images / "images.yaml").write_text(f"{SH!r}: sh\n{STAGER!r}: stager\n")
    image_maps = [images / "images.yaml"]
    with KubeStandin({}, runtime="bwrap", image_map=ImageMap.load(image_maps), secrets={SECRET: s3_server.env}) as kube:
        airflow = _Airflow(
            knit_home=home,
            port=free_port(),
            runner="kubernetes",
            image_maps=image_maps,
            knit_options={
                "data_store": url,
                "data_store_conn_id": "knit_s3",
                "kubernetes_stager_image": STAGER,
                "kubernetes_store_secret": SECRET,
                "kubernetes_config_file": str(kube.write_kubeconfig(home / "kubeconfig")),
                "kubernetes_startup_timeout": "60",
            },
            extra_env={"AIRFLOW_CONN_KNIT_S3": s3_server.airflow_connection()},
        )
        saved = {k: os.environ.get(k) for k in s3_server.env}
        os.environ.update(s3_server.env)  # this test process pushes and reads like a local knit CLI
        airflow.start()
        try:
            with Knit.open(home=home, store=StoreSpec(url=url)) as knit:
                deployment = Deployment(kube, knit, s3_server, bucket)
                made = {name: plans.apply(knit, text) for name, text in PLAN_TEXTS.items()}
                deployment.plans = made  # type: ignore[attr-defined]
                wanted = {plan_dag_id(p["image"], p["planId"]) for p in made.values()}
                wait_until(lambda: wanted <= set(airflow.dag_ids()), 240, "every Plan's DAG is parsed", interval=2)
                yield deployment
        finally:
            airflow.stop()
            for key, value in saved.items():
                os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def test_a_pod_fetches_its_inputs_and_uploads_its_outputs_with_no_shared_volume(deployment, tmp_path):
    deployment.push(tmp_path / "in", {"a.txt": "from the bucket\n"}, ["s3:copy"])
    run = deployment.ended(deployment.plans["copy"])
    assert (run["status"], run["exit"]["code"] if run.get("exit") else 0) == ("done", 0), run
    out_id = run["outputs"][0]["knitId"]
    assert deployment.knit.store.exists(out_id), "the pod's sidecar committed the output"
    pulled = data.extract(deployment.knit, out_id, tmp_path / "pulled")
    assert (pulled / "b.txt").read_text() == "from the bucket\n"
    log, _ = runs.read_log(deployment.knit, run["runId"])
    assert "copied-it" in log and "WROTE-INPUT" not in log, "inputs are read-only; the log reached the store"

    pod = deployment.pod_of(run["runId"])
    spec = pod["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["knit-fetch", "knit-upload"]
    assert spec["initContainers"][1]["restartPolicy"] == "Always"
    assert all("persistentVolumeClaim" not in v for v in spec["volumes"]), "no claim: nothing is shared"
    statuses = {s["name"]: s["state"] for s in pod["status"]["initContainerStatuses"]}
    assert statuses["knit-upload"]["terminated"]["exitCode"] == 0


def test_a_failed_program_keeps_its_outputs_in_the_store(deployment, tmp_path):
    deployment.push(tmp_path / "in", {"a.txt": "x"}, ["s3:fail"])
    run = deployment.ended(deployment.plans["fail"])
    assert (run["status"], run["exit"]["code"]) == ("failed", 3), run
    out_id = run["outputs"][0]["knitId"]
    assert (data.extract(deployment.knit, out_id, tmp_path / "pulled") / "part.txt").read_text() == "partial\n"
    assert "failing" in runs.read_log(deployment.knit, run["runId"])[0]


def test_an_input_the_pod_cannot_fetch_fails_the_run_with_the_reason(deployment, tmp_path):
    knit_id = deployment.push(tmp_path / "in", {"a.txt": "x"}, ["s3:lost"])
    prefix = f"runs/staging/{knit_id}/"
    client = deployment.s3.client()
    for key in deployment.s3.keys(deployment.bucket, prefix):
        client.delete_object(Bucket=deployment.bucket, Key=key)  # its bytes lost behind Knit's back
    run = deployment.ended(deployment.plans["lost"])
    assert (run["status"], run["exit"]["code"]) == ("failed", 125), run
    assert "the inputs could not be fetched from the Data store" in run["exit"]["message"], run["exit"]

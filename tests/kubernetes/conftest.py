"""Fixtures for the kubernetes tests: the API stand-in on both runtimes, a kubeconfig, an image, a KPO context.

- ``kube_standin(claims, **options)``: a started ``KubeStandin`` (bwrap and the ``standin_images`` map unless told
  otherwise), stopped at teardown.
- ``kube_runtime``: ``{"runtime": "bwrap"}`` or ``{"runtime": "docker", "docker_host": ...}`` (the session's
  dockerd, marked ``docker``); ``kube``: a stand-in on it with the claim ``data`` -> ``kube_claim``.
- ``SH_IMAGE`` (``knit-test/sh:1.0``): ``ENTRYPOINT ["sh", "-c"]`` on the Debian python image; mapped for bwrap,
  built by docker on first pull.
  No ``__init__.py`` here: it would make this directory a package named ``kubernetes``, shadowing the client.
- ``core_v1`` (for ``kube``), ``core_v1_for(kube)``: the real ``kubernetes`` client, from a written kubeconfig.
- ``kpo_context(run_id)``: the smallest context ``KubernetesPodOperator.execute`` needs outside a task runner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from knit_dev.docker import DEBIAN_PYTHON_IMAGE
from knit_dev.kube_standin import KubeStandin
from kubernetes import client, config

from knit_provider.runners.image_map import ImageMap

SH_IMAGE = "knit-test/sh:1.0"


@pytest.fixture
def sh_image() -> str:
    """``SH_IMAGE``, for test modules (they cannot import a conftest by name)."""
    return SH_IMAGE


@pytest.fixture
def standin_images(tmp_path: Path) -> ImageMap:
    context = tmp_path / "images" / "sh"
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text(f'FROM {DEBIAN_PYTHON_IMAGE}\nWORKDIR /\nENTRYPOINT ["sh", "-c"]\n')
    path = tmp_path / "images" / "images.yaml"
    path.write_text(f"{SH_IMAGE!r}: sh\n")
    return ImageMap.load([path])


@pytest.fixture(params=["bwrap", pytest.param("docker", marks=pytest.mark.docker)])
def kube_runtime(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "docker":
        return {"runtime": "docker", "docker_host": request.getfixturevalue("dockerd").host}
    return {"runtime": "bwrap"}


@pytest.fixture
def kube_standin(standin_images: ImageMap) -> Iterator[Callable[..., KubeStandin]]:
    started: list[KubeStandin] = []

    def start(claims: dict[str, Path] | None = None, **options: Any) -> KubeStandin:
        options.setdefault("image_map", standin_images)
        options.setdefault("runtime", "bwrap")
        kube = KubeStandin(claims or {}, **options).start()
        started.append(kube)
        return kube

    yield start
    for kube in reversed(started):
        kube.stop()


@pytest.fixture
def kube_claim(tmp_path: Path) -> Path:
    """The host directory of the claim ``data``."""
    root = tmp_path / "claim"
    root.mkdir()
    return root


@pytest.fixture
def kube(kube_standin: Callable[..., KubeStandin], kube_runtime: dict[str, Any], kube_claim: Path) -> KubeStandin:
    return kube_standin({"data": kube_claim}, **kube_runtime)


@pytest.fixture
def kubeconfig(kube: KubeStandin, tmp_path: Path) -> Path:
    return kube.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def core_v1(kubeconfig: Path) -> client.CoreV1Api:
    """The real kubernetes client, configured from the stand-in's kubeconfig."""
    return client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))


@pytest.fixture
def core_v1_for(tmp_path: Path) -> Callable[[KubeStandin], client.CoreV1Api]:
    """``core_v1_for(kube)``: the real client for a stand-in started by ``kube_standin``."""

    def make(kube: KubeStandin) -> client.CoreV1Api:
        path = kube.write_kubeconfig(tmp_path / "kubeconfigs" / kube.url.rsplit(":", 1)[-1])
        return client.CoreV1Api(config.new_client_from_config(str(path)))

    return make


class _TaskInstance:
    """What KPO reads from ``context["ti"]``: ids for its labels, and ``xcom_push`` for the pod's name."""

    def __init__(self, dag_id: str, task_id: str) -> None:
        self.dag_id, self.task_id, self.map_index, self.try_number = dag_id, task_id, -1, 1
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


@pytest.fixture
def kpo_context() -> Callable[..., dict[str, Any]]:
    def make(run_id: str, dag_id: str = "kube_standin", task_id: str = "run") -> dict[str, Any]:
        ti = _TaskInstance(dag_id, task_id)
        return {"ti": ti, "task_instance": ti, "run_id": run_id, "dag": SimpleNamespace(dag_id=dag_id)}

    return make

"""The docker runner end to end: a Plan whose image is built from its mapped context on a real dockerd."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from knit_dev.docker import DEBIAN_PYTHON_IMAGE
from knit_dev.standalone import Standalone, free_port
from knit_dev.waiting import wait_until

from knit_provider.core.airflow_names import plan_dag_id
from knit_provider.service import Knit, data, plans

from .conftest import runs_of, write_image_map

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.docker]
IMAGE = "localhost:30503/knit-e2e-docker:v1.0"
PROGRAM = (
    "import pathlib\n"
    "words = pathlib.Path('/in/text/words.txt').read_text().split()\n"
    "marker = pathlib.Path('/etc/knit-e2e-marker').read_text().strip()\n"
    "pathlib.Path('/out/count/count.txt').write_text(f'{len(words)} {marker}')\n"
    "print('counted', len(words))\n"
)


@pytest.fixture(scope="module")
def docker_airflow(dockerd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    image_map = write_image_map(
        tmp_path_factory.mktemp("docker-images"),
        {
            IMAGE: {
                "Dockerfile": f"FROM {DEBIAN_PYTHON_IMAGE}\nRUN echo built-image > /etc/knit-e2e-marker\n"
                "COPY count.py /app/count.py\nWORKDIR /app\n"
                'ENTRYPOINT ["python3", "count.py"]\n',
                "count.py": PROGRAM,
            }
        },
    )
    with Standalone(
        knit_home=tmp_path_factory.mktemp("docker-home"),
        port=free_port(),
        runner="docker",
        image_maps=[image_map],
        extra_env={"DOCKER_HOST": dockerd.host},
    ) as server:
        yield server


def test_a_plan_runs_in_its_real_image_built_locally(docker_airflow, dockerd, tmp_path) -> None:
    assert dockerd.docker("image", "inspect", IMAGE, check=False).returncode != 0, "not built yet"
    with Knit.open(home=docker_airflow.knit_home) as knit:
        plan = plans.apply(
            knit,
            f"image: {IMAGE}\ninputs: [{{path: /in/text, tags: ['e2e:text']}}]\n"
            "outputs: [{path: /out/count, tags: ['e2e:count']}]\nlog: {tags: ['e2e:log']}\n",
        )
        docker_airflow.wait_for_dags([plan_dag_id(IMAGE, plan["planId"])], timeout=120)
        (tmp_path / "text").mkdir()
        (tmp_path / "text" / "words.txt").write_text("one two three four")
        data.push_dir(knit, tmp_path / "text", ["e2e:text"])
        (run,) = wait_until(lambda: runs_of(knit, plan["planId"]), timeout=30, what="the Run exists")

        def finished() -> dict | None:
            (found,) = runs_of(knit, plan["planId"])
            return found if found["status"] in ("done", "failed") else None

        ended = wait_until(finished, timeout=300, what="the docker Run finished")
        assert ended["status"] == "done", ended.get("exit")
        count = (knit.store.path(ended["outputs"][0]["knitId"]) / "count.txt").read_text()
        assert count == "4 built-image", "ran inside the image built from its Dockerfile, not on the host"
        assert "counted 4" in (knit.store.path(ended["log"]["knitId"]) / "log").read_text()
    assert dockerd.docker("image", "inspect", IMAGE, check=False).returncode == 0, "built from its mapped context"

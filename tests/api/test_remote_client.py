"""``KnitClient`` against a real api-server: the service's dicts back, the service's errors raised, and a Run
started by Airflow from a REST upload whose log the client follows to the end."""

from __future__ import annotations

import pytest
from api_helpers import SH_IMAGE, tar_bytes

from knit_provider.core.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from knit_provider.remote.client import KnitClient
from knit_provider.service import data, graphs, plans, runs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def client(standalone) -> KnitClient:
    """Logs in with a username and password, as a remote ``knit`` would."""
    with KnitClient(standalone.url, username="admin", password=standalone.password(), timeout=300) as instance:
        yield instance


def sh_plan(tag_in: str, tag_out: str, script: str) -> str:
    return (
        f"image: {SH_IMAGE}\nargs: [{script!r}]\n"
        f"inputs: [{{path: /in/x, tags: [{tag_in!r}]}}]\n"
        f"outputs: [{{path: /out/y, tags: [{tag_out!r}]}}]\n"
        "log: {tags: ['client:log']}\n"
    )


def test_an_upload_runs_through_airflow_and_its_log_is_followed_to_the_end(client, server_knit, tmp_path):
    script = "echo start; sleep 2; echo end; cp -r /in/x/. /out/y/"
    plan = client.plans.apply(sh_plan("client:in", "client:out", script))
    assert plan == plans.show(server_knit, plan["planId"])
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "f.txt").write_text("payload")
    pushed = client.data.push_dir(tmp_path / "in", ["client:in"])
    (run,) = client.runs.find(plan_ids=[plan["planId"]], input_ids=[pushed["knitId"]])
    assert run["status"] in ("waiting", "ready", "starting", "running")  # created with the upload, for Airflow
    log = "".join(client.runs.follow_log(run["runId"], follow=True))  # returns once the Run has finished
    assert log == "start\nend\n"
    done = client.runs.show(f"knit__{run['runId']}")
    assert done["status"] == "done" and done == runs.show(server_knit, run["runId"])
    (output,) = client.data.find(["client:out"])
    assert output["knitId"] == done["outputs"][0]["knitId"]
    out = client.data.extract(output["knitId"], tmp_path / "pulled")
    assert (out / "f.txt").read_text() == "payload"


def test_plans_through_the_client_equal_the_service(client, server_knit):
    plan_id = client.plans.apply(sh_plan("client:p-in", "client:p-out", "true"))["planId"]
    assert client.plans.show(plan_id) == plans.show(server_knit, plan_id)
    assert [p["planId"] for p in client.plans.find(in_tags=["client:p-in"])] == [plan_id]
    assert client.plans.find(in_tags=["client:p-in"], active="no") == []
    assert client.plans.set_active(plan_id, False)["active"] is False
    assert client.plans.set_active(plan_id, True)["active"] is True
    assert client.plans.set_resources(plan_id, set_={"cpu": "500m"}, unset=["memory"])["resources"] == {"cpu": "500m"}
    assert client.plans.annotate(plan_id, add=["a=1", "b=2"])["annotations"] == ["a=1", "b=2"]
    assert client.plans.annotate(plan_id, add=["c=3"], remove_keys=["b"])["annotations"] == ["a=1", "c=3"]
    assert client.plans.set_service_account(plan_id, "robot")["service_account"] == "robot"
    assert "service_account" not in client.plans.set_service_account(plan_id, None)
    assert client.plans.show(plan_id) == plans.show(server_knit, plan_id)
    assert client.graphs.plan_graph(plan_id) == graphs.plan_graph(server_knit, plan_id).to_dot() + "\n"


def test_errors_are_the_services_errors_with_the_same_messages(client, server_knit):
    def same(call_remote, call_local, kind):
        with pytest.raises(kind) as remote:
            call_remote()
        with pytest.raises(kind) as local:
            call_local()
        assert type(remote.value) is type(local.value) and str(remote.value) == str(local.value)
        assert getattr(remote.value, "field", None) == getattr(local.value, "field", None)

    same(lambda: client.data.show("nope"), lambda: data.show(server_knit, "nope"), NotFound)
    same(lambda: client.runs.show("nope"), lambda: runs.show(server_knit, "nope"), NotFound)
    same(lambda: client.plans.find(active="maybe"), lambda: plans.find(server_knit, active="maybe"), InvalidInput)
    same(lambda: client.data.find(["no-colon"]), lambda: data.find(server_knit, ["no-colon"]), InvalidInput)
    text = sh_plan("client:dup", "client:dup-out", "true")
    client.plans.apply(text)
    same(lambda: client.plans.apply(text), lambda: plans.apply(server_knit, text), Conflict)
    upload_run = client.data.push_tar(tar_bytes({"a": "1"}), ["client:e"])["upstream"]["run"]["runId"]
    same(lambda: client.runs.stop(upload_run), lambda: runs.stop(server_knit, upload_run), IllegalTransition)
    same(lambda: client.runs.retry(upload_run), lambda: runs.retry(server_knit, upload_run), Conflict)


def test_data_tags_runs_and_removal(client, server_knit):
    pushed = client.data.push_tar(tar_bytes({"a": "1"}), ["client:t1", "client:drop"], sha256=None)
    knit_id = pushed["knitId"]
    tagged = client.data.tag(knit_id, add=["client:t2"], remove=["client:t1"], remove_keys=["client"])
    assert tagged == data.show(server_knit, knit_id)
    assert {t for t in tagged["tags"] if not t.startswith("knit#")} == {"client:t2"}
    upload_run = tagged["upstream"]["run"]["runId"]
    assert [r["runId"] for r in client.runs.find(output_ids=[knit_id], statuses=["done"])] == [upload_run]
    lineage = client.graphs.lineage(knit_id, fmt="json", depth=None)
    assert {n["kind"] for n in lineage["nodes"]} == {"data", "run", "root"}
    client.runs.remove(upload_run)
    with pytest.raises(NotFound):
        client.data.show(knit_id)

"""A Run's OpenLineage lineage (``operators.lineage``) read from a real catalog: its datasets are its Data."""

from __future__ import annotations

import pytest
from knit_dev.lifecycle import finish

from knit_provider.operators.lineage import KnitRunLineage
from knit_provider.service import data, plans, runs

pytestmark = pytest.mark.assets


def test_a_runs_datasets_are_its_knit_ids_with_tags_and_mount_paths(knit, catalog_url, make_dir, monkeypatch) -> None:
    from openlineage.client.serde import Serde

    monkeypatch.setenv("AIRFLOW__KNIT__CATALOG_URL", catalog_url)
    monkeypatch.setenv("AIRFLOW__KNIT__KNIT_HOME", str(knit.home))
    monkeypatch.setenv("AIRFLOW__KNIT__CATALOG_NAME", "lab")
    plan = plans.apply(
        knit,
        "image: repo/train:1\ninputs: [{path: /in/d, tags: ['type:dataset']}]\n"
        "outputs: [{path: /out/m, tags: ['type:model']}]\nlog: {tags: ['type:log']}\n",
    )
    source = data.push_dir(knit, make_dir(), ["type:dataset"])["knitId"]
    (run,) = runs.find(knit, plan_ids=[plan["planId"]])
    done = finish(knit, run["runId"])

    class Task(KnitRunLineage):
        knit_run_id = run["runId"]
        knit_conn_id = "knit_default"

    lineage = Task().get_openlineage_facets_on_complete(None)
    inputs = [Serde.to_dict(d) for d in lineage.inputs]
    outputs = [Serde.to_dict(d) for d in lineage.outputs]
    assert [(d["namespace"], d["name"]) for d in inputs] == [("knit://lab", source)]
    assert inputs[0]["facets"]["knit"]["mountPath"] == "/in/d"
    assert "type:dataset" in inputs[0]["facets"]["knit"]["tags"]
    assert [d["name"] for d in outputs] == [done["outputs"][0]["knitId"], done["log"]["knitId"]]
    assert outputs[1]["facets"]["knit"]["log"] is True
    plan_facet = Serde.to_dict(lineage.job_facets["knitPlan"])
    assert (plan_facet["planId"], plan_facet["image"], plan_facet["runId"]) == (
        plan["planId"], "repo/train:1", run["runId"],
    )  # fmt: skip

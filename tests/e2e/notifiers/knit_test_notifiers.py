"""Notifiers for the tests, importable by Airflow's DAG processor (the tests put this directory on its PYTHONPATH):
each call appends one JSON line (the DagRun it was called for) to the file ``KNIT_TEST_NOTIFY_FILE`` names."""

from __future__ import annotations

import json
import os

from airflow.sdk import BaseNotifier


class RecordingNotifier(BaseNotifier):
    """Writes ``{"notifier", "dag_id", "run_id", "state", "conf"}`` per call."""

    template_fields = ()

    def notify(self, context) -> None:
        dag_run = context["dag_run"]
        line = {
            "notifier": type(self).__name__,
            "dag_id": dag_run.dag_id,
            "run_id": dag_run.run_id,
            "state": str(getattr(dag_run.state, "value", dag_run.state)),
            "conf": dict(dag_run.conf or {}),
        }
        with open(os.environ["KNIT_TEST_NOTIFY_FILE"], "a") as out:
            out.write(json.dumps(line) + "\n")


class SuccessNotifier(RecordingNotifier):
    pass


recording = RecordingNotifier()  # an instance, named by its import path

not_a_notifier = object()

"""``KnitDataHook``: Knit Data from classic Airflow task code: push a directory (or any ``ObjectStoragePath``) as
Data whose lineage root is the task, pull Data back out, find usable Data.

```python
@task
def ingest() -> str:
    out = Path("/tmp/batch"); ...
    return KnitDataHook().push(out, tags=["type:dataset", "project:p"], name="batch")   # the knit id (XCom)
```

Pushing from a task starts the Runs the new Data cause at once (through the Task SDK), as ``knit data push`` does.
A retried task returns the Data its earlier try pushed under the same push key (see ``service.task_data``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from knit_provider.hooks.dagruns import TaskDispatcher
from knit_provider.hooks.knit import KnitHook, airflow_base_url
from knit_provider.service import data as service_data
from knit_provider.service.task_data import TaskOrigin, push_from_task

#: pushes made so far by each task instance try, numbering the default push keys ("1", "2", ...)
_PUSH_COUNTS: dict[tuple, int] = {}


def _current_context() -> Any | None:
    try:
        from airflow.sdk import get_current_context

        return get_current_context()
    except Exception:  # not inside a running task
        return None


def task_instance_url(dag_id: str, dagrun_id: str, task_id: str, map_index: int) -> str:
    """The task instance's page in Airflow's UI."""
    from urllib.parse import quote

    base = airflow_base_url()
    url = f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(dagrun_id, safe='')}/tasks/{quote(task_id, safe='')}"
    return url + (f"/mapped/{map_index}" if map_index >= 0 else "")


def origin_of(context: Any, push_key: str | None) -> TaskOrigin:
    """The running task instance as an upload's origin; without ``push_key``, the push's number in this try."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    map_index = -1 if map_index is None else int(map_index)
    try_number = int(getattr(ti, "try_number", 1) or 1)
    if push_key is None:
        counter = (ti.dag_id, ti.run_id, ti.task_id, map_index, try_number)
        _PUSH_COUNTS[counter] = _PUSH_COUNTS.get(counter, 0) + 1
        push_key = str(_PUSH_COUNTS[counter])
    return TaskOrigin(
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        dagrun_id=ti.run_id,
        map_index=map_index,
        try_number=try_number,
        push_key=push_key,
        url=task_instance_url(ti.dag_id, ti.run_id, ti.task_id, map_index),
    )


def _is_local(path: Any) -> bool:
    return isinstance(path, (str, Path)) or getattr(path, "protocol", "file") in ("file", "local", "")


def _local_path(path: Any) -> Path:
    return Path(path.path if hasattr(path, "path") and not isinstance(path, Path) else path)


def _relative_key(item: Any, root: Any) -> PurePosixPath:
    """``item``'s path under ``root`` (object stores have no working directory, so ``relative_to`` cannot answer);
    a key that would leave the copy's directory (a ``..`` part: ``PurePosixPath`` drops ``.`` and empty ones, and
    so a key that is the root itself has no parts) is refused, naming it."""
    relative = PurePosixPath(str(item.path)).relative_to(PurePosixPath(str(root.path)))
    if not relative.parts or ".." in relative.parts:
        raise ValueError(f"object {item} has a key that leaves {root} ({relative}): it cannot be copied safely")
    return relative


def copy_tree_from(source: Any, target: Path) -> None:
    """Copy an ``ObjectStoragePath`` directory (any fsspec store) into a local directory."""
    target.mkdir(parents=True, exist_ok=True)
    for item in source.rglob("*"):
        relative = Path(_relative_key(item, source))
        if item.is_dir():
            (target / relative).mkdir(parents=True, exist_ok=True)
        else:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            with item.open("rb") as src, (target / relative).open("wb") as dst:
                shutil.copyfileobj(src, dst)


def copy_tree_to(source: Path, target: Any) -> None:
    """Copy a local directory into an ``ObjectStoragePath`` directory."""
    for item in sorted(source.rglob("*")):
        if item.is_file():
            dest = target / str(item.relative_to(source))
            with item.open("rb") as src, dest.open("wb") as dst:
                shutil.copyfileobj(src, dst)


class KnitDataHook(KnitHook):
    """Push, pull and find Knit Data from task code (a ``knit`` connection, else ``[knit]`` config)."""

    hook_name = "Knit Data"

    def push(
        self,
        source: Any,
        tags: Sequence[str],
        *,
        name: str | None = None,
        push_key: str | None = None,
        context: Any | None = None,
    ) -> str:
        """Push ``source`` (a directory, or an ``ObjectStoragePath``) as Data tagged ``tags`` (plus ``name:<name>``);
        returns its knit id. Inside a task the task instance is its lineage root and the push is idempotent per
        task instance and ``push_key`` (default: this push's number in the task); the Runs it causes start at once.
        """
        context = context if context is not None else _current_context()
        if context is None:
            raise RuntimeError("KnitDataHook.push needs a running Airflow task (its task instance is the lineage root)")
        origin = origin_of(context, push_key)
        settings = self.settings
        with self.get_conn() as knit:
            knit.dispatcher = TaskDispatcher(redispatch_after_s=settings.redispatch_after_s)
            if _is_local(source):
                detail, made = push_from_task(knit, _local_path(source), tags, origin=origin, name=name)
            else:
                with tempfile.TemporaryDirectory(prefix="knit-push-") as scratch:
                    copy_tree_from(source, Path(scratch))
                    detail, made = push_from_task(knit, scratch, tags, origin=origin, name=name)
        self.log.info(
            "%s Knit Data %s (tags %s)", "pushed" if made else "already pushed by an earlier try:",
            detail["knitId"], ", ".join(detail["tags"]),
        )  # fmt: skip
        return detail["knitId"]

    def pull(self, knit_id: str, dest: Any) -> str:
        """Copy a Data's content into ``dest``: a local directory gets ``DEST/<knit id>/``; an ``ObjectStoragePath``
        gets the files under ``DEST/<knit id>/``. Returns where they are."""
        with self.get_conn() as knit:
            if _is_local(dest):
                return str(service_data.extract(knit, knit_id, _local_path(dest)))
            with tempfile.TemporaryDirectory(prefix="knit-pull-") as scratch:
                local = service_data.extract(knit, knit_id, Path(scratch))
                target = dest / knit_id
                copy_tree_to(local, target)
        return str(target)

    def find_usable(self, tags: Sequence[str], *, since: str | None = None) -> list[str]:
        """Knit ids of the usable Data (Run done, not purged) carrying ``tags``, finished at or after ``since``."""
        with self.get_conn() as knit:
            return [d["knitId"] for d in service_data.find(knit, list(tags), transient="no", since=since)]

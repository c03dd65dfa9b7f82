"""Data pushed by an Airflow task: the task instance is its lineage root, and a retried task never pushes twice.

A push is keyed by its task instance (DAG, DagRun, task, map index) and a push key: the first push under a key
makes the Data; any later one (a retry of the task, a clear and re-run of the same task instance) returns that
Data's knit id without pushing again. To push new Data, push under another key or from another DagRun.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from knit_provider.catalog import data as catalog_data
from knit_provider.catalog import origins
from knit_provider.catalog.engine import read_tx, write_tx
from knit_provider.core.errors import InvalidInput
from knit_provider.core.tags import KEY_NAME, Tag, parse_user_tags
from knit_provider.service import data as service_data
from knit_provider.service.context import Knit


@dataclass(frozen=True)
class TaskOrigin:
    dag_id: str
    task_id: str
    dagrun_id: str
    map_index: int = -1
    try_number: int = 1
    push_key: str = "1"
    url: str | None = None

    @property
    def key(self) -> str:
        parts = (self.dag_id, self.dagrun_id, self.task_id, str(self.map_index), self.push_key)
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def row(self) -> dict:
        return {
            "origin_key": self.key,
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "dagrun_id": self.dagrun_id,
            "map_index": self.map_index,
            "try_number": self.try_number,
            "push_key": self.push_key,
            "url": self.url,
        }


def pushed_under(knit: Knit, origin: TaskOrigin) -> str | None:
    """The knit id an earlier push under this origin made, if any."""
    with read_tx(knit.engine) as conn:
        return origins.data_pushed_under(conn, origin.key)


def push_from_task(
    knit: Knit, source: Path | str, tags: Sequence[str], *, origin: TaskOrigin, name: str | None = None
) -> tuple[dict, bool]:
    """Push a directory as Data whose lineage root is the task ``origin``; ``name`` adds ``name:<name>``.

    Returns the Data's JSON and whether this call made it (False: an earlier push under the same origin did).
    The Runs it causes are handed to the Knit handle's dispatcher, as every push's are.
    """
    path = Path(source)
    user_tags: list[Tag] = parse_user_tags(list(tags))
    if name:
        user_tags = [t for t in user_tags if t.key != KEY_NAME] + [Tag(KEY_NAME, name)]
    if not path.is_dir():
        raise InvalidInput(f"not a directory: {path}", field="source")
    earlier = pushed_under(knit, origin)
    if earlier is not None:
        return service_data.show(knit, earlier), False
    knit_id = str(uuid.uuid4())
    (info,) = knit.store.import_dirs([path], [knit_id])
    try:
        with write_tx(knit.engine) as conn:
            run_id, created = catalog_data.register_upload(
                conn, knit_id, user_tags, checksum=info.checksum, size=info.size
            )
            origins.record(conn, run_id, origin.row())
    except IntegrityError:  # the same push committed meanwhile (a concurrent try): that one stands
        knit.store.delete(knit_id)
        earlier = pushed_under(knit, origin)
        if earlier is None:
            raise
        return service_data.show(knit, earlier), False
    except BaseException:
        knit.store.delete(knit_id)
        raise
    knit.runs_waiting(created)
    return service_data.show(knit, knit_id), True

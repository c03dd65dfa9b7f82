"""Knit Data as asset events, in the catalog: the feed of Data that became usable, each watched ``KnitAsset``'s
cursor in it, and the deliveries (one per Data and asset, ever).

The feed is appended inside the write that made a Data usable (its Run done, an upload) or gave a usable Data new
tags; writers are serialized, so feed seqs become visible in commit order and a cursor never skips one. A watcher
claims, in one write, the Data after its cursor that carry its tags and were never delivered to it, records them
``sent`` and moves its cursor: the catalog, never the trigger's memory, says what was delivered.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, exists, func, insert, select, update

from knit_provider.catalog.bulk import bulk_insert, chunked
from knit_provider.catalog.models import (
    asset_deliveries_t,
    asset_feed_t,
    asset_watches_t,
    data_t,
    data_tags_t,
    runs_t,
)
from knit_provider.catalog.tagstore import lookup_tag_ids, tags_of_data
from knit_provider.core.lifecycle import RunStatus
from knit_provider.core.tags import Tag
from knit_provider.core.timefmt import now_ms

SENT, DELIVERED, PENDING = "sent", "delivered", "pending"


def note_changed(conn: Connection, knit_ids: Iterable[str]) -> None:
    """Append the usable Data among ``knit_ids`` (Run done, not purged) to the feed: called by every write that
    makes Data usable or changes their tags, in its transaction."""
    ids = list(dict.fromkeys(knit_ids))
    now = now_ms()
    for chunk in chunked(ids):
        usable = (
            select(data_t.c.knit_id, bindparam("at", now).label("at"))
            .join(runs_t, runs_t.c.run_id == data_t.c.run_id)
            .where(data_t.c.knit_id.in_(chunk), runs_t.c.status == RunStatus.DONE.value, data_t.c.purged_at.is_(None))
            .order_by(data_t.c.knit_id)
        )
        conn.execute(insert(asset_feed_t).from_select(["knit_id", "at"], usable))


def feed_head(conn: Connection) -> int:
    """The newest feed seq (0 for an empty feed): one index look-up, polled for every watcher at once."""
    return conn.execute(select(func.max(asset_feed_t.c.seq))).scalar() or 0


@dataclass(frozen=True)
class Watch:
    asset_key: str
    uri: str
    name: str
    tags: tuple[str, ...]


def ensure_watch(conn: Connection, watch: Watch, *, backfill: bool) -> int:
    """The watch's cursor, created at the feed's head (only Data usable from now on) or, with ``backfill``, at its
    start (every matching usable Data too)."""
    position = conn.execute(
        select(asset_watches_t.c.position).where(asset_watches_t.c.asset_key == watch.asset_key)
    ).scalar()
    if position is not None:
        return position
    now = now_ms()
    position = 0 if backfill else feed_head(conn)
    conn.execute(
        insert(asset_watches_t).values(
            asset_key=watch.asset_key,
            uri=watch.uri,
            name=watch.name,
            tags=list(watch.tags),
            position=position,
            created_at=now,
            updated_at=now,
        )  # fmt: skip
    )
    return position


@dataclass(frozen=True)
class Claimed:
    knit_id: str
    seq: int


def claim(conn: Connection, watch: Watch, tags: Sequence[Tag], *, head: int, limit: int) -> list[Claimed]:
    """Claim, for delivery, the usable Data in the feed after the watch's cursor (up to ``head``) that carry all
    ``tags`` and were never delivered to it; record them ``sent`` and move the cursor past what was read.

    At most ``limit`` Data per call: the cursor then stops at the last one claimed, so the next call goes on."""
    position = conn.execute(
        select(asset_watches_t.c.position).where(asset_watches_t.c.asset_key == watch.asset_key)
    ).scalar_one()
    if head <= position:
        return []
    tag_ids = list(lookup_tag_ids(conn, tags).values())
    claimed: list[Claimed] = []
    if len(tag_ids) == len(set(tags)):  # a tag no Data ever carried: nothing can match yet
        carrying = (
            select(func.count())
            .select_from(data_tags_t)
            .where(data_tags_t.c.knit_id == asset_feed_t.c.knit_id, data_tags_t.c.tag_id.in_(tag_ids))
            .scalar_subquery()
        )
        delivered = exists().where(
            asset_deliveries_t.c.asset_key == watch.asset_key, asset_deliveries_t.c.knit_id == asset_feed_t.c.knit_id
        )
        first_seq = func.min(asset_feed_t.c.seq)
        rows = conn.execute(
            select(asset_feed_t.c.knit_id, first_seq)
            .join(data_t, data_t.c.knit_id == asset_feed_t.c.knit_id)
            .join(runs_t, runs_t.c.run_id == data_t.c.run_id)
            .where(
                asset_feed_t.c.seq > position,
                asset_feed_t.c.seq <= head,
                runs_t.c.status == RunStatus.DONE.value,
                data_t.c.purged_at.is_(None),
                carrying == len(tag_ids),
                ~delivered,
            )
            .group_by(asset_feed_t.c.knit_id)
            .order_by(first_seq)
            .limit(limit + 1)
        ).all()
        claimed = [Claimed(knit_id, seq) for knit_id, seq in rows[:limit]]
        if len(rows) > limit:
            head = claimed[-1].seq
    now = now_ms()
    bulk_insert(
        conn,
        asset_deliveries_t,
        [{"asset_key": watch.asset_key, "knit_id": c.knit_id, "seq": c.seq, "state": SENT, "sent_at": now}
         for c in claimed],
    )  # fmt: skip
    conn.execute(
        update(asset_watches_t)
        .where(asset_watches_t.c.asset_key == watch.asset_key)
        .values(position=head, updated_at=now)
    )
    return claimed


def claim_for_task(conn: Connection, knit_ids: Sequence[str]) -> list[tuple[str, str]]:
    """Claim, for the task of the Run that made them, the deliveries its usable output Data owe: ``(uri, knit_id)``
    per watched KnitAsset, recorded ``sent`` in the write that made them usable, so no watcher claims them too.

    One Data per asset (a task sends one event per asset); any other Data of the Run the asset owes stays in the
    feed for the asset's watcher. Called in the Run's final write, after the Data entered the feed."""
    watched = conn.execute(
        select(asset_watches_t.c.asset_key, asset_watches_t.c.uri, asset_watches_t.c.tags).order_by(
            asset_watches_t.c.name
        )
    ).all()
    if not watched or not knit_ids:
        return []
    seqs = dict(
        conn.execute(
            select(asset_feed_t.c.knit_id, func.max(asset_feed_t.c.seq))
            .where(asset_feed_t.c.knit_id.in_(list(knit_ids)))
            .group_by(asset_feed_t.c.knit_id)
        ).all()
    )  # only the usable Data entered the feed
    if not seqs:
        return []
    carried = {knit_id: {str(t) for t in tags} for knit_id, tags in tags_of_data(conn, sorted(seqs)).items()}
    sent = set(
        conn.execute(
            select(asset_deliveries_t.c.asset_key, asset_deliveries_t.c.knit_id).where(
                asset_deliveries_t.c.knit_id.in_(list(seqs))
            )
        ).all()
    )
    now = now_ms()
    claimed: list[tuple[str, str]] = []
    rows = []
    in_feed_order = sorted(seqs, key=seqs.get)
    for asset_key, uri, tags in watched:
        wanted = set(tags)
        owed = [k for k in in_feed_order if wanted <= carried[k] and (asset_key, k) not in sent]
        if owed:
            claimed.append((uri, owed[0]))
            rows.append({"asset_key": asset_key, "knit_id": owed[0], "seq": seqs[owed[0]], "state": SENT,
                         "sent_at": now})  # fmt: skip
    bulk_insert(conn, asset_deliveries_t, rows)
    return claimed


def still_sent(conn: Connection, claims: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The task's claims still ``sent`` (none was settled meanwhile as lost and queued again), stamped sent now:
    its task is about to hand their events to Airflow."""
    kept = []
    for uri, knit_id in claims:
        key = select(asset_watches_t.c.asset_key).where(asset_watches_t.c.uri == uri).scalar_subquery()
        done = conn.execute(
            update(asset_deliveries_t)
            .where(asset_deliveries_t.c.asset_key == key, asset_deliveries_t.c.knit_id == knit_id)
            .where(asset_deliveries_t.c.state == SENT)
            .values(sent_at=now_ms())
        )
        if done.rowcount:
            kept.append((uri, knit_id))
    return kept


def resend_due(conn: Connection, asset_key: str, *, limit: int) -> list[Claimed]:
    """Deliveries of a watch to send again: the ``pending`` ones (found never received by Airflow). Marked
    ``sent`` now."""
    rows = conn.execute(
        select(asset_deliveries_t.c.knit_id, asset_deliveries_t.c.seq)
        .where(asset_deliveries_t.c.asset_key == asset_key, asset_deliveries_t.c.state == PENDING)
        .order_by(asset_deliveries_t.c.seq)
        .limit(limit)
    ).all()
    found = [Claimed(knit_id, seq) for knit_id, seq in rows]
    for chunk in chunked([c.knit_id for c in found]):
        conn.execute(
            update(asset_deliveries_t)
            .where(asset_deliveries_t.c.asset_key == asset_key, asset_deliveries_t.c.knit_id.in_(chunk))
            .values(state=SENT, sent_at=now_ms())
        )
    return found


def confirm(
    conn: Connection, asset_key: str, knit_id: str, *, asset_id: int | None = None, event_id: int | None = None
) -> bool:
    """Airflow committed the asset event of this delivery; False if there is no such delivery."""
    done = conn.execute(
        update(asset_deliveries_t)
        .where(asset_deliveries_t.c.asset_key == asset_key, asset_deliveries_t.c.knit_id == knit_id)
        .values(state=DELIVERED, delivered_at=now_ms(), airflow_asset_id=asset_id, airflow_event_id=event_id)
    )
    return done.rowcount > 0


def unconfirmed(conn: Connection, *, sent_before: int) -> list[tuple[str, str, str]]:
    """``(asset_key, uri, knit_id)`` of every delivery sent before ``sent_before`` but not confirmed: in doubt
    after a crash."""
    return [
        tuple(row)
        for row in conn.execute(
            select(asset_deliveries_t.c.asset_key, asset_watches_t.c.uri, asset_deliveries_t.c.knit_id)
            .join(asset_watches_t, asset_watches_t.c.asset_key == asset_deliveries_t.c.asset_key)
            .where(asset_deliveries_t.c.state == SENT, asset_deliveries_t.c.sent_at < sent_before)
        )
    ]


def requeue(conn: Connection, asset_key: str, knit_ids: Sequence[str]) -> None:
    """These sent deliveries never reached Airflow: send them again."""
    for chunk in chunked(list(knit_ids)):
        conn.execute(
            update(asset_deliveries_t)
            .where(
                asset_deliveries_t.c.asset_key == asset_key,
                asset_deliveries_t.c.knit_id.in_(chunk),
                asset_deliveries_t.c.state == SENT,
            )
            .values(state=PENDING)
        )


def deliveries_of(conn: Connection, knit_id: str) -> list[dict]:
    """The asset events a Data caused (or is causing), oldest first, for its page."""
    return [
        dict(row)
        for row in conn.execute(
            select(
                asset_watches_t.c.uri,
                asset_watches_t.c.name,
                asset_watches_t.c.tags,
                asset_deliveries_t.c.state,
                asset_deliveries_t.c.sent_at,
                asset_deliveries_t.c.delivered_at,
                asset_deliveries_t.c.airflow_asset_id,
                asset_deliveries_t.c.airflow_event_id,
            )
            .join(asset_watches_t, asset_watches_t.c.asset_key == asset_deliveries_t.c.asset_key)
            .where(asset_deliveries_t.c.knit_id == knit_id)
            .order_by(asset_deliveries_t.c.sent_at, asset_watches_t.c.name)
        ).mappings()
    ]


def deliveries_to(conn: Connection, asset_key: str) -> list[dict]:
    """Every delivery of one watch, in feed order (tests and the bench read it)."""
    return [
        dict(row)
        for row in conn.execute(
            select(asset_deliveries_t)
            .where(asset_deliveries_t.c.asset_key == asset_key)
            .order_by(asset_deliveries_t.c.seq)
        ).mappings()
    ]


def watches(conn: Connection) -> list[dict]:
    return [dict(r) for r in conn.execute(select(asset_watches_t).order_by(asset_watches_t.c.name)).mappings()]


def port_tag_sets(conn: Connection) -> tuple[dict[str, list[tuple[str, ...]]], dict[str, list[tuple[str, ...]]]]:
    """Each Plan's input and output (log included) user tag sets, as sorted ``key:value`` tuples."""
    from knit_provider.catalog.models import input_tags_t, inputs_t, output_tags_t, outputs_t, tags_t

    def sets(port_t, link_t, port_id) -> dict[str, list[tuple[str, ...]]]:
        ports: dict[int, tuple[str, set[str]]] = {}
        for plan_id, pid in conn.execute(select(port_t.c.plan_id, port_id).order_by(port_t.c.position)):
            ports[pid] = (plan_id, set())
        for pid, key, value in conn.execute(
            select(link_t.c[port_id.name], tags_t.c.key, tags_t.c.value).join(
                tags_t, tags_t.c.tag_id == link_t.c.tag_id
            )
        ):
            if pid in ports:
                ports[pid][1].add(f"{key}:{value}")
        found: dict[str, list[tuple[str, ...]]] = {}
        for plan_id, tags in ports.values():
            if tags:
                found.setdefault(plan_id, []).append(tuple(sorted(tags)))
        return found

    return sets(inputs_t, input_tags_t, inputs_t.c.input_id), sets(outputs_t, output_tags_t, outputs_t.c.output_id)

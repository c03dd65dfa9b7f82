"""Knit Data as Airflow asset events, without Airflow: what a ``KnitAsset(tags=...)`` is called, which Data it has
still to deliver, and the record of what Airflow received.

A usable Data (its Run done) is one asset event for every KnitAsset whose tags it carries, delivered once. The
catalog records each delivery (``catalog.assets``): ``sent`` when the trigger hands it to Airflow, ``delivered`` when
Airflow committed the event (the plugin's listener confirms it), so a restart of the triggerer, or of all of
Airflow, resends only what Airflow never received, and nothing twice. A Run's own task claims the deliveries of its
outputs in the Run's final write and sends them as its outlet events (``task_outlet_events``); the watchers deliver
every other usable Data (uploads, tag changes, Runs ended by reconciliation).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

from knit_provider.catalog import assets as catalog_assets
from knit_provider.catalog.engine import read_tx, write_tx
from knit_provider.catalog.views import data_details
from knit_provider.core.errors import InvalidInput
from knit_provider.core.tags import Tag, parse_user_tags, sort_tags
from knit_provider.service.context import Knit

SCHEME = "knit"
DEFAULT_CATALOG = "knit"
#: the most Data one poll of one watcher claims (the rest follow on the next poll)
CLAIM_LIMIT = 200
#: a delivery sent less than this ago may still be on its way into Airflow's database: not settled yet
IN_FLIGHT_MS = 2_000


@dataclass(frozen=True)
class AssetSpec:
    """A KnitAsset's identity: its tags (sorted, user tags only) and the catalog it reads."""

    tags: tuple[str, ...]
    catalog: str = DEFAULT_CATALOG

    @classmethod
    def of(cls, tags: Iterable[str], catalog: str | None = None) -> AssetSpec:
        if isinstance(tags, str):
            raise InvalidInput(f"KnitAsset tags must be a list of 'key:value', not one string {tags!r}", field="tags")
        parsed = parse_user_tags(list(tags), field="tags")
        if not parsed:
            raise InvalidInput("a KnitAsset needs at least one tag", field="tags")
        name = (catalog or DEFAULT_CATALOG).strip()
        if not name or "/" in name or any(c.isspace() for c in name):
            raise InvalidInput(f"catalog name must be one word without '/': {name!r}", field="catalog_name")
        return cls(tuple(str(t) for t in sort_tags(set(parsed))), name)

    @property
    def parsed_tags(self) -> list[Tag]:
        return parse_user_tags(self.tags)

    @property
    def uri(self) -> str:
        """``knit://<catalog>/data?tag=k%3Av&...``: one URI per tag set, the same wherever it is declared."""
        return f"{SCHEME}://{self.catalog}/data?" + "&".join(f"tag={quote(t, safe='')}" for t in self.tags)

    @property
    def name(self) -> str:
        """What Airflow's Assets page shows: ``knit[catalog]: tag, tag``."""
        where = "" if self.catalog == DEFAULT_CATALOG else f"[{self.catalog}]"
        return f"knit{where}: " + ", ".join(self.tags)

    @property
    def key(self) -> str:
        return hashlib.sha256(self.uri.encode()).hexdigest()

    @property
    def watch(self) -> catalog_assets.Watch:
        return catalog_assets.Watch(self.key, self.uri, self.name, self.tags)

    @classmethod
    def from_uri(cls, uri: str) -> AssetSpec | None:
        """The spec of a Knit asset URI, None for any other URI."""
        prefix = f"{SCHEME}://"
        if not uri.startswith(prefix) or "/data?" not in uri:
            return None
        catalog, _, query = uri[len(prefix) :].partition("/data?")
        tags = [unquote(part[4:]) for part in query.split("&") if part.startswith("tag=")]
        try:
            return cls.of(tags, catalog)
        except InvalidInput:
            return None


def feed_head(knit: Knit) -> int:
    with read_tx(knit.engine) as conn:
        return catalog_assets.feed_head(conn)


def start_watch(knit: Knit, spec: AssetSpec, *, backfill: bool = False) -> int:
    """Make sure the catalog keeps a cursor for this asset (created at the feed's head, or its start with
    ``backfill``); returns the cursor."""
    with write_tx(knit.engine) as conn:
        return catalog_assets.ensure_watch(conn, spec.watch, backfill=backfill)


def due_events(knit: Knit, spec: AssetSpec, *, head: int, data_url: Callable[[str], str] | None = None) -> list[dict]:
    """The asset events this asset owes now, each recorded ``sent`` before it is returned: deliveries to send
    again first, then new Data from the feed up to ``head``. Each is ``{knit_id, tags, run_id, plan_id, plan,
    data_url?}`` (the event's ``extra``)."""
    with write_tx(knit.engine) as conn:
        again = catalog_assets.resend_due(conn, spec.key, limit=CLAIM_LIMIT)
        fresh = catalog_assets.claim(conn, spec.watch, spec.parsed_tags, head=head, limit=CLAIM_LIMIT)
    ids = [c.knit_id for c in again + fresh]
    if not ids:
        return []
    with read_tx(knit.engine) as conn:
        details = data_details(conn, ids)
    return [event_extra(detail, data_url) for detail in details]


def task_outlet_events(
    knit: Knit, claims: Sequence[tuple[str, str]], data_url: Callable[[str], str] | None = None
) -> list[tuple[AssetSpec, dict]]:
    """The asset events a Run's task hands to Airflow as its outlet events, one per KnitAsset its outputs were
    claimed for (``Knit.outlet_claims``): ``(spec, extra)``, the extra as a watcher's event payload.

    Sent by the task as it succeeds, the event reaches Airflow as fast as any task's outlet event (a watcher's waits
    for the triggerer's next round). A claim settled meanwhile as lost (queued for its watcher again) is left out,
    and the others are stamped sent now, so settlement gives the task's report to Airflow its full grace."""
    with write_tx(knit.engine) as conn:
        kept = catalog_assets.still_sent(conn, claims)
    if not kept:
        return []
    with read_tx(knit.engine) as conn:
        details = {d["knitId"]: d for d in data_details(conn, sorted({k for _, k in kept}))}
    found = []
    for uri, knit_id in kept:
        spec = AssetSpec.from_uri(uri)
        if spec is not None and knit_id in details:
            found.append((spec, event_extra(details[knit_id], data_url)))
    return found


def event_extra(detail: dict, data_url: Callable[[str], str] | None = None) -> dict:
    """An asset event's extra for one Data: its knit id, all its tags, and the Run and Plan that made it."""
    run = detail["upstream"]["run"]
    plan = run["plan"]
    extra = {
        "knit_id": detail["knitId"],
        "tags": detail["tags"],
        "run_id": run["runId"],
        "plan_id": plan["planId"],
        "plan": plan.get("image") or plan.get("name") or "",
    }
    if "mountpoint" in detail["upstream"]:
        extra["path"] = detail["upstream"]["mountpoint"]["path"]
    if data_url is not None:
        extra["data_url"] = data_url(detail["knitId"])
    return extra


def confirm(knit: Knit, uri: str, knit_id: str, *, asset_id: int | None = None, event_id: int | None = None) -> bool:
    """Airflow committed the asset event for ``knit_id`` on the Knit asset ``uri``."""
    spec = AssetSpec.from_uri(uri)
    if spec is None:
        return False
    with write_tx(knit.engine) as conn:
        return catalog_assets.confirm(conn, spec.key, knit_id, asset_id=asset_id, event_id=event_id)


InAirflow = Callable[[str, Sequence[str]], "dict[str, tuple[int | None, int | None]]"]


def settle_unconfirmed(knit: Knit, in_airflow: InAirflow, *, in_flight_ms: int = IN_FLIGHT_MS) -> dict[str, int]:
    """After a crash: every delivery sent (more than ``in_flight_ms`` ago) but never confirmed is looked up in
    Airflow (``in_airflow(uri, knit_ids)`` answers the ones it holds an asset event for, with the asset and event
    ids). Those are confirmed; the others are queued to be sent again. Returns the counts."""
    from knit_provider.core.timefmt import now_ms

    with read_tx(knit.engine) as conn:
        doubtful = catalog_assets.unconfirmed(conn, sent_before=now_ms() - in_flight_ms)
    by_asset: dict[tuple[str, str], list[str]] = {}
    for asset_key, uri, knit_id in doubtful:
        by_asset.setdefault((asset_key, uri), []).append(knit_id)
    counts = {"confirmed": 0, "resend": 0}
    for (asset_key, uri), knit_ids in by_asset.items():
        found = in_airflow(uri, knit_ids)
        with write_tx(knit.engine) as conn:
            for knit_id, (asset_id, event_id) in found.items():
                catalog_assets.confirm(conn, asset_key, knit_id, asset_id=asset_id, event_id=event_id)
            catalog_assets.requeue(conn, asset_key, [k for k in knit_ids if k not in found])
        counts["confirmed"] += len(found)
        counts["resend"] += len(knit_ids) - len(found)
    return counts


def deliveries_of(knit: Knit, knit_id: str) -> list[dict]:
    """The asset events a Data caused, for its page."""
    with read_tx(knit.engine) as conn:
        return catalog_assets.deliveries_of(conn, knit_id)


def deliveries_to(knit: Knit, spec: AssetSpec) -> list[dict]:
    with read_tx(knit.engine) as conn:
        return catalog_assets.deliveries_to(conn, spec.key)


def watches(knit: Knit) -> list[dict]:
    with read_tx(knit.engine) as conn:
        return catalog_assets.watches(conn)


def knit_ids_of_events(events: Iterable[object]) -> list[str]:
    """The knit ids carried by asset events (``triggering_asset_events`` values, or their ``extra`` dicts), in order,
    without repeats: a consumer of a batch gets every knit id of it."""
    found: list[str] = []
    for event in events:
        extra = getattr(event, "extra", event)
        if not isinstance(extra, dict):
            continue
        payload = extra.get("payload") if isinstance(extra.get("payload"), dict) else extra
        knit_id = payload.get("knit_id") if isinstance(payload, dict) else None
        if isinstance(knit_id, str) and knit_id not in found:
            found.append(knit_id)
    return found


@dataclass(frozen=True)
class PlanAssets:
    """The KnitAssets a Plan's DAG declares for Airflow's asset graph: ``inlets`` (its inputs' tag sets) and
    ``outlets`` (every tag set its outputs' Data carry: its own outputs', its downstream Plans' inputs' and the
    watched KnitAssets'), so Plan DAGs and the classic DAGs scheduled on their Data draw as one graph."""

    inlets: tuple[tuple[str, ...], ...]
    outlets: tuple[tuple[str, ...], ...]
    #: the tag sets a KnitAsset watcher watches: the Plan DAG declares those with the same watcher, since Airflow
    #: syncs an asset's watchers from every file that declares the asset (one without would cancel the trigger,
    #: and events fired meanwhile are dropped)
    watched: frozenset[tuple[str, ...]] = frozenset()


def plan_assets(knit: Knit) -> dict[str, PlanAssets]:
    """Every Plan's KnitAssets (the DAG processor's parse declares them on the Plans' DAGs)."""
    with read_tx(knit.engine) as conn:
        inputs, outputs = catalog_assets.port_tag_sets(conn)
        watched = [tuple(w["tags"]) for w in catalog_assets.watches(conn)]
    contained = _ContainedSets({t for sets in inputs.values() for t in sets} | set(watched))
    found: dict[str, PlanAssets] = {}
    for plan_id in set(inputs) | set(outputs):
        outlets: set[tuple[str, ...]] = set()
        for produced in outputs.get(plan_id, []):
            outlets.add(produced)
            outlets.update(contained.within(produced))
        found[plan_id] = PlanAssets(
            tuple(sorted(set(inputs.get(plan_id, [])))), tuple(sorted(outlets)), frozenset(watched)
        )
    return found


class _ContainedSets:
    """Which of many tag sets a given tag set contains, without comparing it with each of them: every set is filed
    under one of its tags, and only the sets filed under a tag the given set has can be inside it. With a
    thousand Plans, comparing every output with every input (the DAG file does this at each parse) cost about a
    second per parse (``bench/many_plans.py``)."""

    def __init__(self, sets: Iterable[tuple[str, ...]]) -> None:
        self.by_tag: dict[str, list[tuple[frozenset[str], tuple[str, ...]]]] = {}
        self.empty = False
        for tags in sets:
            if tags:
                self.by_tag.setdefault(tags[0], []).append((frozenset(tags), tags))
            else:
                self.empty = True

    def within(self, tags: tuple[str, ...]) -> set[tuple[str, ...]]:
        have = frozenset(tags)
        found = {()} if self.empty else set()
        for tag in have:
            found.update(original for members, original in self.by_tag.get(tag, ()) if members <= have)
        return found

"""The plan-to-plan edge relation: an output (or log) feeds an unpinned input whose tags it all carries."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from knit_provider.catalog.models import input_tags_t, inputs_t, output_tags_t, outputs_t


def inputs_carrying(conn: Connection, tag_ids: set[int]) -> list[int]:
    """Inputs (pinned or not) whose tags include all of ``tag_ids``."""
    if not tag_ids:
        return []
    return list(
        conn.execute(
            select(input_tags_t.c.input_id)
            .where(input_tags_t.c.tag_id.in_(tag_ids))
            .group_by(input_tags_t.c.input_id)
            .having(func.count() == len(tag_ids))
        ).scalars()
    )


def plans_of_ports(conn: Connection, input_ids: list[int] = (), output_ids: list[int] = ()) -> set[str]:
    """The Plans owning these inputs and outputs."""
    plans: set[str] = set()
    if input_ids:
        plans |= set(conn.execute(select(inputs_t.c.plan_id).where(inputs_t.c.input_id.in_(input_ids))).scalars())
    if output_ids:
        plans |= set(conn.execute(select(outputs_t.c.plan_id).where(outputs_t.c.output_id.in_(output_ids))).scalars())
    return plans


def outputs_feeding(conn: Connection, tag_ids: set[int]) -> list[int]:
    """Outputs (and logs) whose tags include all of ``tag_ids``."""
    if not tag_ids:
        return []
    return list(
        conn.execute(
            select(output_tags_t.c.output_id)
            .where(output_tags_t.c.tag_id.in_(tag_ids))
            .group_by(output_tags_t.c.output_id)
            .having(func.count() == len(tag_ids))
        ).scalars()
    )


def inputs_fed_by(conn: Connection, tag_ids: set[int]) -> list[int]:
    """Unpinned inputs whose every tag is among ``tag_ids``."""
    if not tag_ids:
        return []
    return list(
        conn.execute(
            select(inputs_t.c.input_id)
            .join(input_tags_t, input_tags_t.c.input_id == inputs_t.c.input_id)
            .where(
                input_tags_t.c.tag_id.in_(tag_ids),
                inputs_t.c.pin_knit_id.is_(None),
                inputs_t.c.pin_timestamp.is_(None),
            )
            .group_by(inputs_t.c.input_id, inputs_t.c.n_user_tags)
            .having(func.count() == inputs_t.c.n_user_tags)
        ).scalars()
    )

"""The plan-to-plan edge relation: an output (or log) feeds an unpinned input whose tags it all carries."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from knit_provider.catalog.models import input_tags_t, inputs_t, output_tags_t


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

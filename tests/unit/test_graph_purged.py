"""Purged Data in lineage graphs (Knitfab 2.0): a grey header saying "purged", and nothing else changed."""

from __future__ import annotations

import pytest

from knit_provider.core.graphs import DATA_COLOR, PURGED_COLOR, DataNode, Graph

pytestmark = pytest.mark.compat


def node(*extra: str) -> DataNode:
    return DataNode(knit_id="d1", tags=["knit#id:d1", "type:raw", "knit#timestamp:2024-01-01T00:00:00+00:00", *extra])


def dot_of(data: DataNode) -> str:
    graph = Graph()
    graph.add_data(data)
    return graph.to_dot()


def test_a_purged_data_has_a_grey_header_saying_purged() -> None:
    purged = dot_of(node("knit#transient:purged"))
    assert f'color="{PURGED_COLOR}"' in purged and f'BGCOLOR="{PURGED_COLOR}"' in purged
    assert "<B>Data (purged)</B>" in purged and "knit#transient:purged" in purged
    assert DATA_COLOR not in purged


def test_other_data_keep_knitfabs_green_header() -> None:
    plain = dot_of(node())
    assert f'BGCOLOR="{DATA_COLOR}"' in plain and "<B>Data</B>" in plain and PURGED_COLOR not in plain

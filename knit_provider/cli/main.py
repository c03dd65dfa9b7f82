"""Entry point of the ``knit`` console script: the group with every command registered."""

from __future__ import annotations

from knit_provider.cli import (  # noqa: F401  (registration)
    admin_cmds,
    data_cmds,
    explain_cmds,
    graph_cmds,
    init_cmd,
    plan_cmds,
    run_cmds,
    template_cmd,
)
from knit_provider.cli.app import knit, main

__all__ = ["knit", "main"]

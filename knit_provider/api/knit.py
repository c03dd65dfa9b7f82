"""The catalog the api-server's Knit routes work on: opened once per process from the ``knit`` connection/config,
and handed to each request with that caller's dispatcher, so the Runs a request's writes create start at once
(``api.starting``)."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request

from knit_provider.api.auth import GetUserDep
from knit_provider.api.starting import dispatcher_for
from knit_provider.hooks.knit import KnitHook
from knit_provider.service.context import Knit
from knit_provider.service.settings import KnitSettings


@lru_cache(maxsize=1)
def hook() -> KnitHook:
    return KnitHook()


def settings() -> KnitSettings:
    return hook().settings


@lru_cache(maxsize=1)
def process_knit() -> Knit:
    return hook().get_conn()  # an object store with the credentials of its Airflow connection


def knit(request: Request, user: GetUserDep) -> Knit:
    """This request's view of the process's catalog: same engine and store, the caller's dispatcher, and the
    caller as the actor its writes record (``catalog.causes``)."""
    return replace(
        process_knit(),
        dispatcher=dispatcher_for(request, settings().redispatch_after_s),
        actor=f"{user.get_name()} (Airflow user)",
    )


#: The catalog dependency of every Knit route and page (tests hand routes their own by overriding ``knit``).
KnitDep = Annotated[Knit, Depends(knit)]

"""The Knit UI pages (server-rendered HTML) under ``/knit``: one module per page family."""

from __future__ import annotations

from fastapi import APIRouter

from knit_provider.api.auth import AUTHENTICATED

router = APIRouter(dependencies=AUTHENTICATED)

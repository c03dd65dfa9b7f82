"""The Knit REST API (Knitfab-shaped JSON) under ``/knit/api``: one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from knit_provider.api.auth import AUTHENTICATED
from knit_provider.api.rest import runs

router = APIRouter(prefix="/api", dependencies=AUTHENTICATED)
router.include_router(runs.router)

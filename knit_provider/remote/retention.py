"""``knit_provider.service.retention`` over HTTP (``knit data purge --where`` in the remote mode)."""

from __future__ import annotations

from knit_provider.core.retention import Selection
from knit_provider.remote.resources import _Resource


class RetentionAPI(_Resource):
    def purge_where(self, where: Selection | dict, *, dry_run: bool = False) -> dict:
        body = where.as_json() if isinstance(where, Selection) else dict(where)
        if not dry_run:
            return self._client.json("POST", "/retention/purge", json=body)
        params = {"tag": body.get("tags", []), "per": body.get("per", [])}
        params |= {k: v for k, v in body.items() if k not in ("tags", "per") and v is not None}
        if "superseded" in params:
            params["superseded"] = "true" if params["superseded"] else "false"
        return self._client.json("GET", "/retention/preview", params=params)

    def overview(self) -> dict:
        return self._client.json("GET", "/retention")

"""``knit_provider.service.previews`` over HTTP: the write routes with ``dry_run=true`` (``--dry-run`` remotely)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from knit_provider.remote.resources import _id, _Resource

DRY = {"dry_run": "true"}


class PreviewsAPI(_Resource):
    def apply(self, spec: str | Mapping[str, Any] | Any) -> dict:
        """A plan YAML text, its JSON form (a mapping), or a parsed ``PlanSpec``."""
        if isinstance(spec, str):
            return self._client.json(
                "POST", "/plans", params=DRY, content=spec.encode("utf-8"), headers={"Content-Type": "application/yaml"}
            )
        body = spec.to_dict() if hasattr(spec, "to_dict") else dict(spec)
        return self._client.json("POST", "/plans", params=DRY, json=body)

    def tag(
        self, knit_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = (), remove_keys: Sequence[str] = ()
    ) -> dict:
        change = {"add": list(add), "remove": list(remove), "remove_key": list(remove_keys)}
        return self._client.json("PUT", f"/data/{_id(knit_id)}", params=DRY, json=change)

    def set_active(self, plan_id: str, active: bool) -> dict:
        return self._client.json("PUT" if active else "DELETE", f"/plans/{_id(plan_id)}/active", params=DRY)

    def push(self, tags: Sequence[str] = (), *, names: Sequence[str | None] = (None,)) -> dict:
        """Nothing is uploaded: one Data per name (``name:<name>`` added when set) with these tags."""
        sent = [] if list(names) == [None] else [n or "" for n in names]
        return self._client.json("POST", "/data", params={**DRY, "tag": list(tags), "name": sent}, content=b"")

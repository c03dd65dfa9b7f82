"""``knit_provider.service.explain`` over HTTP (``knit explain`` in the remote mode)."""

from __future__ import annotations

from knit_provider.remote.resources import _id, _Resource


class ExplainAPI(_Resource):
    def data(self, knit_id: str, *, plan_id: str | None = None) -> dict:
        return self._client.json("GET", f"/data/{_id(knit_id)}/explain", params={"plan": plan_id})

    def run(self, run_id: str) -> dict:
        return self._client.json("GET", f"/runs/{_id(run_id)}/explain")

    def near_misses(self, plan_id: str) -> dict:
        return self._client.json("GET", f"/plans/{_id(plan_id)}/near-misses")

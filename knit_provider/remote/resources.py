"""The four resources of the Knit REST API, one method per route, named and shaped as the service functions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote

from knit_provider.core.paging import Page
from knit_provider.core.timefmt import canonical_since
from knit_provider.remote.archive import chunks_of, pack_dirs, unpack_into

if TYPE_CHECKING:
    from knit_provider.remote.client import KnitClient

Progress = Callable[[int], None]


def _id(value: str) -> str:
    """An id as one path segment, whatever a caller passes."""
    return quote(value, safe="")


def _counted(chunks: Iterable[bytes], progress: Progress | None) -> Iterator[bytes]:
    for chunk in chunks:
        if progress is not None:
            progress(len(chunk))
        yield chunk


class _Resource:
    def __init__(self, client: KnitClient) -> None:
        self._client = client


class DataAPI(_Resource):
    """``knit_provider.service.data`` over HTTP."""

    def _params(self, tags: Sequence[str], transient: str, since: str | None, duration: str | None) -> dict:
        """``since`` leaves as an exact RFC3339 time: a time without a zone is the user's local time, not the
        server's (the same for ``RunsAPI``)."""
        return {"tag": list(tags), "transient": transient, "since": canonical_since(since), "duration": duration}

    def find_iter(
        self,
        tags: Sequence[str] = (),
        *,
        transient: str = "both",
        since: str | None = None,
        duration: str | None = None,
    ) -> Iterator[dict]:
        """Every match, oldest first, read from the server's streamed list as it arrives (bounded memory)."""
        return self._client.stream_list("/data", params=self._params(tags, transient, since, duration))

    def find(
        self,
        tags: Sequence[str] = (),
        *,
        transient: str = "both",
        since: str | None = None,
        duration: str | None = None,
    ) -> list[dict]:
        return list(self.find_iter(tags, transient=transient, since=since, duration=duration))

    def find_page(
        self,
        tags: Sequence[str] = (),
        *,
        transient: str = "both",
        since: str | None = None,
        duration: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        """One page, newest first (``?limit=&cursor=``); ``next`` / ``prev`` as the server's headers give them."""
        params = self._params(tags, transient, since, duration) | {"limit": limit, "cursor": cursor}
        return self._client.page("/data", params=params)

    def show(self, knit_id: str) -> dict:
        return self._client.json("GET", f"/data/{_id(knit_id)}/detail")

    def push_tar(
        self,
        stream: bytes | BinaryIO | Iterable[bytes],
        tags: Sequence[str] = (),
        *,
        progress: Progress | None = None,
        sha256: str | None = None,
    ) -> dict:
        """Upload a tar(.gz) body, streamed; with ``sha256`` the server registers nothing unless it matches."""
        headers = {"Content-Type": "application/octet-stream"}
        if sha256 is not None:
            headers["X-Checksum-Sha256"] = sha256
        body = _counted(chunks_of(stream), progress)
        return self._client.json(
            "POST", "/data", params={"tag": list(tags)}, content=body, headers=headers, replayable=False
        )

    def push_dir(
        self,
        source: Path | str,
        tags: Sequence[str] = (),
        *,
        name: bool = False,
        follow_links: bool = False,
        progress: Progress | None = None,
    ) -> dict:
        """Pack a directory (tar.gz, owners zeroed, links kept) and upload it with its SHA-256."""
        return self.push_dirs([source], tags, name=name, follow_links=follow_links, progress=progress)[0]

    def push_dirs(
        self,
        sources: Sequence[Path | str],
        tags: Sequence[str] = (),
        *,
        name: bool = False,
        follow_links: bool = False,
        progress: Progress | None = None,
    ) -> list[dict]:
        """``service.data.push_dirs`` remotely, all or nothing: every directory is checked and packed before
        anything is sent; several go as one upload (``POST /data/batch``) that the server keeps whole or not at
        all. ``progress`` counts the file bytes packed, as the local mode counts the bytes copied."""
        paths = [Path(s) for s in sources]
        names = [p.resolve().name if name else "" for p in paths]
        packed, digest = pack_dirs(paths, follow_links=follow_links, progress=progress)
        with packed:
            if len(paths) == 1:
                name_tag = f"name:{names[0]}"
                tags_of_one = [t for t in tags if t != name_tag] + [name_tag] if name else list(tags)
                return [self.push_tar(packed, tags_of_one, sha256=digest)]
            headers = {"Content-Type": "application/octet-stream", "X-Checksum-Sha256": digest}
            params = {"tag": list(tags), "parts": len(paths), "name": names if name else None}
            body = chunks_of(packed)
            return self._client.json(
                "POST", "/data/batch", params=params, content=body, headers=headers, replayable=False
            )

    def tag(
        self, knit_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = (), remove_keys: Sequence[str] = ()
    ) -> dict:
        change = {"add": list(add), "remove": list(remove), "remove_key": list(remove_keys)}
        return self._client.json("PUT", f"/data/{_id(knit_id)}", json=change)

    def purge(self, knit_id: str) -> dict:
        """``DELETE /data/{id}``: the bytes go, the Data stays (``knit#transient:purged``)."""
        return self._client.json("DELETE", f"/data/{_id(knit_id)}")

    def export_tar(self, knit_id: str, out: BinaryIO, *, progress: Progress | None = None) -> None:
        for chunk in _counted(self._client.stream(f"/data/{_id(knit_id)}"), progress):
            out.write(chunk)

    def extract(
        self, knit_id: str, dest: Path | str, *, replace: bool = False, progress: Progress | None = None
    ) -> Path:
        """Download to ``DEST/<knit id>/`` (refused if it exists unless ``replace``; appears only when complete);
        ``progress`` counts the bytes received."""
        stream = _ChunkReader(_counted(self._client.stream(f"/data/{_id(knit_id)}"), progress))
        return unpack_into(stream, Path(dest), knit_id, replace=replace)


class _ChunkReader:
    """Chunks as a file object for tarfile's stream mode."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


class PlansAPI(_Resource):
    """``knit_provider.service.plans`` over HTTP."""

    def apply(self, spec: str | Mapping[str, Any] | Any, *, yes: bool = False) -> dict:
        """A plan YAML text, its JSON form (a mapping), or a parsed ``PlanSpec``; ``yes`` confirms a large backfill."""
        params = {"yes": "true"} if yes else None
        if isinstance(spec, str):
            return self._client.json(
                "POST",
                "/plans",
                params=params,
                content=spec.encode("utf-8"),
                headers={"Content-Type": "application/yaml"},
            )
        body = spec.to_dict() if hasattr(spec, "to_dict") else dict(spec)
        return self._client.json("POST", "/plans", params=params, json=body)

    def show(self, plan_id: str) -> dict:
        return self._client.json("GET", f"/plans/{_id(plan_id)}")

    def find(
        self,
        *,
        active: str = "both",
        image: str | None = None,
        in_tags: Sequence[str] = (),
        out_tags: Sequence[str] = (),
    ) -> list[dict]:
        params = {"active": active, "image": image, "in_tag": list(in_tags), "out_tag": list(out_tags)}
        return self._client.json("GET", "/plans", params=params)

    def find_page(
        self,
        *,
        active: str = "both",
        image: str | None = None,
        in_tags: Sequence[str] = (),
        out_tags: Sequence[str] = (),
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        """One page, newest first (``?limit=&cursor=``)."""
        params = {"active": active, "image": image, "in_tag": list(in_tags), "out_tag": list(out_tags)}
        return self._client.page("/plans", params=params | {"limit": limit, "cursor": cursor})

    def set_active(self, plan_id: str, active: bool) -> dict:
        return self._client.json("PUT" if active else "DELETE", f"/plans/{_id(plan_id)}/active")

    def set_resources(self, plan_id: str, *, set_: Mapping[str, str] = {}, unset: Sequence[str] = ()) -> dict:
        return self._client.json(
            "PUT", f"/plans/{_id(plan_id)}/resources", json={"set": dict(set_), "unset": list(unset)}
        )

    def annotate(
        self, plan_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = (), remove_keys: Sequence[str] = ()
    ) -> dict:
        change = {"add": list(add), "remove": list(remove), "remove_key": list(remove_keys)}
        return self._client.json("PUT", f"/plans/{_id(plan_id)}/annotations", json=change)

    def set_timeout(self, plan_id: str, timeout: str | float | None) -> dict:
        return self._client.json("PUT", f"/plans/{_id(plan_id)}/timeout", json={"timeout": timeout})

    def set_retries(self, plan_id: str, count: int | None, *, delay: str | float | None = None) -> dict:
        return self._client.json("PUT", f"/plans/{_id(plan_id)}/retries", json={"count": count, "delay": delay})

    def set_service_account(self, plan_id: str, name: str | None) -> dict:
        path = f"/plans/{_id(plan_id)}/serviceaccount"
        if name is None:
            return self._client.json("DELETE", path)
        return self._client.json("PUT", path, json={"serviceAccount": name})


class RunsAPI(_Resource):
    """``knit_provider.service.runs`` over HTTP (the user-facing half)."""

    @staticmethod
    def _params(plan_ids, input_ids, output_ids, statuses, since, duration) -> dict:
        return {
            "plan": list(plan_ids),
            "knitIdInput": list(input_ids),
            "knitIdOutput": list(output_ids),
            "status": list(statuses),
            "since": canonical_since(since),
            "duration": duration,
        }

    def find_iter(
        self,
        *,
        plan_ids: Sequence[str] = (),
        input_ids: Sequence[str] = (),
        output_ids: Sequence[str] = (),
        statuses: Sequence[str] = (),
        since: str | None = None,
        duration: str | None = None,
    ) -> Iterator[dict]:
        """Every match, oldest update first, read from the server's streamed list as it arrives."""
        params = self._params(plan_ids, input_ids, output_ids, statuses, since, duration)
        return self._client.stream_list("/runs", params=params)

    def find(self, **filters: Any) -> list[dict]:
        return list(self.find_iter(**filters))

    def find_page(
        self,
        *,
        plan_ids: Sequence[str] = (),
        input_ids: Sequence[str] = (),
        output_ids: Sequence[str] = (),
        statuses: Sequence[str] = (),
        since: str | None = None,
        duration: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        """One page, newest created first (``?limit=&cursor=``)."""
        params = self._params(plan_ids, input_ids, output_ids, statuses, since, duration)
        return self._client.page("/runs", params=params | {"limit": limit, "cursor": cursor})

    def show(self, run_id: str) -> dict:
        return self._client.json("GET", f"/runs/{_id(run_id)}")

    def follow_log(self, run_id: str, *, follow: bool = False) -> Iterator[str]:
        """The log as text chunks; with ``follow`` the stream lasts until the Run has finished."""
        return self._client.stream(f"/runs/{_id(run_id)}/log", params={"follow": "" if follow else None}, text=True)

    def stop(self, run_id: str, *, fail: bool = False) -> dict:
        return self._client.json("PUT", f"/runs/{_id(run_id)}/{'abort' if fail else 'tearoff'}")

    def retry(self, run_id: str) -> dict:
        return self._client.json("PUT", f"/runs/{_id(run_id)}/retry")

    def remove(self, run_id: str) -> None:
        self._client.request("DELETE", f"/runs/{_id(run_id)}")


class GraphsAPI(_Resource):
    """``knit_provider.service.graphs`` over HTTP: the graph comes back rendered (DOT text, SVG bytes or JSON)."""

    def _get(self, path: str, upstream: bool, downstream: bool, depth: int | None, fmt: str) -> str | bytes | dict:
        params = {"upstream": upstream, "downstream": downstream, "depth": "all" if depth is None else str(depth)}
        response = self._client.request("GET", f"{path}.{fmt}", params=params, headers={"Accept": "*/*"})
        if fmt == "json":
            return response.json()
        return response.content if fmt == "svg" else response.text

    def lineage(
        self, knit_id: str, *, upstream: bool = False, downstream: bool = False, depth: int | None = 3, fmt: str = "dot"
    ) -> str | bytes | dict:
        return self._get(f"/data/{_id(knit_id)}/lineage", upstream, downstream, depth, fmt)

    def plan_graph(
        self, plan_id: str, *, upstream: bool = False, downstream: bool = False, depth: int | None = 3, fmt: str = "dot"
    ) -> str | bytes | dict:
        return self._get(f"/plans/{_id(plan_id)}/graph", upstream, downstream, depth, fmt)


class AdminAPI(_Resource):
    """``knit_provider.service.doctor`` over HTTP: the check runs on the server, next to its store."""

    def doctor(self, *, fix: bool = False, older_than: str = "1h") -> dict:
        return self._client.json("POST" if fix else "GET", "/admin/doctor", params={"older_than": older_than})

    def hooks(self, *, states: tuple[str, ...] = ("pending", "failed"), run_id: str | None = None) -> list[dict]:
        params: dict = {"state": list(states)}
        if run_id:
            params["run"] = run_id
        return self._client.json("GET", "/admin/hooks", params=params)

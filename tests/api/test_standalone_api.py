"""The Knit REST API on a real ``airflow standalone``: Airflow's authentication and authorization on every route,
uploads and downloads streamed through the real api-server, refused uploads leaving nothing, escaping."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from api_helpers import UNSAFE_UPLOADS, stored_ids, tar_bytes, tar_with
from knit_dev.standalone import REPO
from starlette.routing import Route

from knit_provider.remote.client import KnitClient, RemoteError
from knit_provider.service import data

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def knit_routes() -> list[tuple[str, str, str]]:
    """(method, path, access check) of every route of the Knit app but FastAPI's own docs pages."""
    from knit_provider.api.app import create_app

    app = create_app()
    public = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    found = []
    for route in app.routes:
        if not isinstance(route, Route) or route.path in public:
            continue
        dependant = getattr(route, "dependant", None)
        calls = [d.call.__name__ for d in dependant.dependencies] if dependant is not None else []
        check = next((c for c in calls if c.startswith("can_")), "")
        path = re.sub(r"\{fmt\}", "svg", route.path)
        path = re.sub(r"\{[^}]+\}", "no-such-id", path)
        for method in sorted(route.methods - {"HEAD"}):
            found.append((method, "/knit" + path, check))
    return found


ROUTES = knit_routes()
API_ROUTES = [r for r in ROUTES if r[1].startswith("/knit/api/")]


def call(
    standalone, method: str, path: str, token: str | None = None, headers: dict | None = None, **kwargs
) -> httpx.Response:
    sent = dict(headers or {}) | ({"Authorization": f"Bearer {token}"} if token else {})
    return httpx.request(method, standalone.url + path, headers=sent, timeout=60, **kwargs)


def test_the_docs_are_public_and_list_the_api(standalone):
    schema = call(standalone, "GET", "/knit/openapi.json").json()
    assert "/api/data" in schema["paths"] and call(standalone, "GET", "/knit/docs").status_code == 200


@pytest.mark.parametrize(("method", "path", "check"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_every_route_is_401_without_credentials(standalone, method, path, check):
    reply = call(standalone, method, path, content=b"x" if method in ("POST", "PUT") else None)
    assert reply.status_code == 401, reply.text
    if path.startswith("/knit/api/"):
        assert reply.json() == {"message": "Not authenticated", "field": None, "type": "HTTPException"}


def test_a_forged_token_is_refused(standalone):
    assert call(standalone, "GET", "/knit/api/data", token="not.a.jwt").status_code in (401, 403)


def test_the_ui_cookie_authenticates_too(standalone, tokens):
    reply = httpx.get(f"{standalone.url}/knit/api/data", cookies={"_token": tokens["viewer"]}, timeout=30)
    assert reply.status_code == 200 and isinstance(reply.json(), list)


@pytest.mark.parametrize(("method", "path", "check"), API_ROUTES, ids=[f"{m} {p}" for m, p, _ in API_ROUTES])
def test_a_viewer_reads_but_gets_403_on_every_write(standalone, tokens, method, path, check):
    reply = call(standalone, method, path, token=tokens["viewer"], content=b"{}" if method in ("POST", "PUT") else None)
    if check == "can_read":
        assert reply.status_code != 403, reply.text  # 200, or 404 for the made-up ids
    else:
        assert reply.status_code == 403, reply.text
        assert reply.json()["message"] == "Forbidden"


def test_a_viewers_upload_is_refused_before_anything_is_stored(standalone, tokens, server_knit):
    before = stored_ids(server_knit)
    reply = call(
        standalone, "POST", "/knit/api/data", token=tokens["viewer"], params={"tag": "who:viewer"},
        content=tar_bytes({"a": "1"}),
    )  # fmt: skip
    assert reply.status_code == 403
    assert data.find(server_knit, ["who:viewer"]) == [] and stored_ids(server_knit) == before
    writer = call(
        standalone, "POST", "/knit/api/data", token=tokens["writer"], params={"tag": "who:writer"},
        content=tar_bytes({"a": "1"}),
    )  # fmt: skip
    assert writer.status_code == 200 and data.find(server_knit, ["who:writer"])[0]["knitId"] == writer.json()["knitId"]


@pytest.mark.parametrize("case", sorted(UNSAFE_UPLOADS))
def test_an_unsafe_upload_stores_nothing(standalone, tokens, server_knit, case):
    known = {d["knitId"] for d in data.find(server_knit)}
    before = stored_ids(server_knit)
    body = tar_with(UNSAFE_UPLOADS[case])
    reply = call(
        standalone, "POST", "/knit/api/data", token=tokens["admin"], params={"tag": f"unsafe:{case}"}, content=body,
        headers={"X-Checksum-Sha256": hashlib.sha256(body).hexdigest()},
    )  # fmt: skip
    assert reply.status_code == 400 and "upload entry" in reply.json()["message"], reply.text
    assert data.find(server_knit, [f"unsafe:{case}"]) == []
    # nothing new in the store but what Runs elsewhere in the session made (Data the catalog knows)
    now_known = {d["knitId"] for d in data.find(server_knit)}
    assert stored_ids(server_knit) - before <= now_known - known
    assert not any((folder / "escape.txt").exists() for folder in (server_knit.store.root, server_knit.home))
    staging = server_knit.store.root / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == []


def test_round_trip_through_the_real_api_server(standalone, tokens, tmp_path):
    source = tmp_path / "dataset"
    (source / "nested" / "deeper").mkdir(parents=True)
    (source / "empty").mkdir()
    (source / "a.txt").write_text("alpha\n")
    (source / "nested" / "deeper" / "bytes.bin").write_bytes(bytes(range(256)) * 1000)
    (source / "link").symlink_to("a.txt")
    with KnitClient(standalone.url, token=tokens["admin"]) as client:
        pushed = client.data.push_dir(source, ["trip:yes"], name=True)
        assert "name:dataset" in pushed["tags"] and client.data.show(pushed["knitId"]) == pushed
        out = client.data.extract(pushed["knitId"], tmp_path / "out")
        spooled = tmp_path / "copy.tar.gz"
        with spooled.open("wb") as sink:
            client.data.export_tar(pushed["knitId"], sink)
    assert out == tmp_path / "out" / pushed["knitId"]
    assert (out / "a.txt").read_text() == "alpha\n" and (out / "empty").is_dir()
    assert (out / "nested" / "deeper" / "bytes.bin").read_bytes() == bytes(range(256)) * 1000
    assert (out / "link").is_symlink() and (out / "link").readlink() == Path("a.txt")
    assert spooled.read_bytes()[:2] == b"\x1f\x8b"


def test_html_in_tags_is_verbatim_in_json_and_escaped_in_dot_and_svg(standalone, tokens):
    evil = 'note:<script>alert("x")</script><img src=x onerror=alert(1)>'
    with KnitClient(standalone.url, token=tokens["admin"]) as client:
        pushed = client.data.push_tar(tar_bytes({"a": "1"}), [evil])
        assert evil in pushed["tags"] and evil in client.data.find([evil])[0]["tags"]
        dot = client.graphs.lineage(pushed["knitId"], fmt="dot")
        svg = client.graphs.lineage(pushed["knitId"], fmt="svg")
    assert "<script>" not in dot and "<img" not in dot and "&lt;script&gt;" in dot
    assert b"<script" not in svg and b"<img" not in svg
    tree = ET.fromstring(svg)
    assert not [e for e in tree.iter() if e.tag.rsplit("}", 1)[-1].lower() in ("script", "img", "foreignObject")]
    assert '<script>alert("x")</script>' in "".join(tree.itertext())


def test_a_200_mib_upload_and_download_stream_in_bounded_memory(standalone):
    """``bench/upload_memory.py`` against this api-server: its resident memory must not grow by the body."""
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "upload_memory.py"), "--url", standalone.url, "--password",
         standalone.password(), "--size-mib", "200"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["content_sha256_ok"]
    assert figures["upload"]["growth_mib"] < 64, figures  # a buffered body would add ~200 MiB
    assert figures["download"]["growth_mib"] < 64, figures


def test_the_client_reports_auth_failures_as_remote_errors(standalone, tokens):
    with KnitClient(standalone.url, username="viewer", password="wrong") as client, pytest.raises(RemoteError) as bad:
        client.data.find()
    assert bad.value.http_status == 401 and "login as 'viewer' failed" in str(bad.value)
    with KnitClient(standalone.url, token=tokens["viewer"]) as client, pytest.raises(RemoteError) as denied:
        client.data.push_tar(tar_bytes({"a": "1"}), ["who:viewer"])
    assert denied.value.http_status == 403 and str(denied.value) == "Forbidden"

"""``/knit/api/data``: the same service calls as ``knit data``, in Knitfab's shapes, with the same messages."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile

import pytest
from api_helpers import UNSAFE_UPLOADS, stored_ids, tar_bytes, tar_with

from knit_provider.core.errors import InvalidInput
from knit_provider.service import data, plans, runs


def upload(api, body: bytes, *tags: str, headers: dict | None = None):
    return api.post("/api/data", params={"tag": list(tags)}, content=body, headers=headers or {})


def test_an_upload_is_a_data_with_its_tags_as_the_service_shows_it(api, api_knit):
    reply = upload(api, tar_bytes({"a.txt": "alpha", "sub/b.txt": "beta"}), "type:raw", "project:p")
    assert reply.status_code == 200, reply.text
    pushed = reply.json()
    assert pushed == data.show(api_knit, pushed["knitId"])
    assert {"type:raw", "project:p", f"knit#id:{pushed['knitId']}"} <= set(pushed["tags"])
    assert pushed["upstream"]["run"]["plan"]["name"] == "knit#uploaded"
    stored = api_knit.store.path(pushed["knitId"])
    assert (stored / "a.txt").read_text() == "alpha" and (stored / "sub" / "b.txt").read_text() == "beta"
    assert api.get(f"/api/data/{pushed['knitId']}/detail").json() == pushed


def test_a_plain_tar_is_accepted_too(api):
    reply = upload(api, tar_bytes({"x": "1"}, gz=False), "k:v")
    assert reply.status_code == 200, reply.text


def test_an_upload_creates_the_runs_it_causes_for_airflow_to_start(api, api_knit):
    plan = plans.apply(api_knit, "image: x/y:1\ninputs: [{path: /in/a, tags: ['type:raw']}]\n")
    knit_id = upload(api, tar_bytes({"a": "1"}), "type:raw").json()["knitId"]
    (run,) = runs.find(api_knit, plan_ids=[plan["planId"]])
    assert run["status"] == "waiting" and run["inputs"][0]["knitId"] == knit_id


@pytest.mark.parametrize("header", ["X-Checksum-Sha256", "Content-Digest"])
def test_a_matching_checksum_is_accepted(api, header):
    body = tar_bytes({"a": "1"})
    digest = hashlib.sha256(body).digest()
    value = digest.hex() if header == "X-Checksum-Sha256" else f"sha-256=:{base64.b64encode(digest).decode()}:"
    reply = upload(api, body, "k:v", headers={header: value})
    assert reply.status_code == 200, reply.text


def test_a_checksum_mismatch_registers_nothing_and_keeps_nothing(api, api_knit):
    before = stored_ids(api_knit)
    body = tar_bytes({"a": "1"})
    wrong = hashlib.sha256(body + b"x").hexdigest()
    reply = upload(api, body, "k:v", headers={"X-Checksum-Sha256": wrong})
    assert reply.status_code == 400
    error = reply.json()
    assert error["type"] == "InvalidInput" and error["field"] == "checksum"
    assert error["message"].startswith("checksum: checksum mismatch") and wrong in error["message"]
    assert data.find(api_knit, ["k:v"]) == [] and stored_ids(api_knit) == before


def test_bytes_after_the_tars_end_count_in_the_checksum(api, api_knit):
    """The digest covers the whole body, not just what the archive reader needed."""
    body = tar_bytes({"a": "1"}, gz=False)
    padded = body + b"\0" * 4096
    reply = upload(api, padded, "k:v", headers={"X-Checksum-Sha256": hashlib.sha256(body).hexdigest()})
    assert reply.status_code == 400 and "checksum mismatch" in reply.json()["message"]
    assert data.find(api_knit, ["k:v"]) == []


def test_malformed_checksums_are_refused_before_reading(api, api_knit):
    for headers in ({"X-Checksum-Sha256": "abc"}, {"Content-Digest": "md5=:xx:"}):
        reply = upload(api, tar_bytes({"a": "1"}), "k:v", headers=headers)
        assert reply.status_code == 400 and reply.json()["field"] == "checksum", reply.text
    assert data.find(api_knit, ["k:v"]) == []


@pytest.mark.parametrize("case", sorted(UNSAFE_UPLOADS))
def test_an_unsafe_upload_is_refused_and_leaves_nothing(api, api_knit, case):
    before = stored_ids(api_knit)
    reply = upload(api, tar_with(UNSAFE_UPLOADS[case]), "unsafe:yes")
    assert reply.status_code == 400, reply.text
    assert reply.json()["type"] == "InvalidInput" and "upload entry" in reply.json()["message"]
    assert data.find(api_knit, ["unsafe:yes"]) == [] and stored_ids(api_knit) == before
    assert list((api_knit.store.root / ".staging").iterdir()) == []


def test_a_body_that_is_no_archive_is_refused(api, api_knit):
    reply = upload(api, b"this is not a tar file at all" * 100, "k:v")
    assert reply.status_code == 400 and "not a readable tar" in reply.json()["message"]


def test_tags_are_checked_with_the_clis_messages(api, api_knit):
    with pytest.raises(InvalidInput) as cli_error:
        data.push_tar(api_knit, io.BytesIO(tar_bytes({"a": "1"})), ["knit#id:x"])
    reply = upload(api, tar_bytes({"a": "1"}), "knit#id:x")
    assert reply.status_code == 400
    assert reply.json() == {"message": str(cli_error.value), "field": cli_error.value.field, "type": "InvalidInput"}


def test_download_streams_the_content_back_as_tar_gz(api, api_knit):
    knit_id = upload(api, tar_bytes({"a.txt": "alpha", "d/b.bin": bytes(range(256))}), "k:v").json()["knitId"]
    reply = api.get(f"/api/data/{knit_id}")
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/gzip"
    assert f'filename="{knit_id}.tar.gz"' in reply.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(reply.content), mode="r:gz") as archive:
        files = {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isreg()}
    assert files == {"a.txt": b"alpha", "d/b.bin": bytes(range(256))}


def test_missing_data_is_a_404_with_the_services_message(api):
    for path in ("/api/data/no-such-id", "/api/data/no-such-id/detail"):
        reply = api.get(path)
        assert reply.status_code == 404
        assert reply.json() == {"message": "data not found: no-such-id", "field": None, "type": "NotFound"}


def test_find_filters_as_knit_data_find(api, api_knit):
    first = upload(api, tar_bytes({"a": "1"}), "type:raw", "n:1").json()
    upload(api, tar_bytes({"a": "2"}), "type:raw", "n:2")
    assert [d["knitId"] for d in api.get("/api/data", params={"tag": ["type:raw", "n:1"]}).json()] == [first["knitId"]]
    assert len(api.get("/api/data", params={"tag": "type:raw", "transient": "no"}).json()) == 2
    assert api.get("/api/data", params={"tag": "type:raw", "transient": "yes"}).json() == []
    assert api.get("/api/data", params={"tag": f"knit#id:{first['knitId']}"}).json() == [first]
    assert api.get("/api/data", params={"since": "2000-01-01T00:00:00Z", "duration": "1h"}).json() == []
    bad = api.get("/api/data", params={"duration": "1h"})
    assert bad.status_code == 400 and bad.json()["message"] == "duration: --duration needs --since"


def test_tag_edit_is_atomic_removals_first(api, api_knit):
    knit_id = upload(api, tar_bytes({"a": "1"}), "a:1", "b:1", "b:2").json()["knitId"]
    reply = api.put(
        f"/api/data/{knit_id}",
        json={"add": ["c:1", {"key": "a", "value": "2"}], "remove": ["a:1"], "remove_key": ["b"]},
    )
    assert reply.status_code == 200, reply.text
    user_tags = {t for t in reply.json()["tags"] if not t.startswith("knit#")}
    assert user_tags == {"a:2", "c:1"} and reply.json() == data.show(api_knit, knit_id)
    refused = api.put(f"/api/data/{knit_id}", json={"add": ["d:1", "knit#transient:x"]})
    assert refused.status_code == 400 and "cannot be set or removed" in refused.json()["message"]
    assert {t for t in data.show(api_knit, knit_id)["tags"] if not t.startswith("knit#")} == {"a:2", "c:1"}
    unknown_field = api.put(f"/api/data/{knit_id}", json={"added": ["d:1"]})
    assert unknown_field.status_code == 422 and unknown_field.json()["field"] == "added"


def test_a_tag_edit_creates_the_runs_it_causes(api, api_knit):
    plan = plans.apply(api_knit, "image: x/y:1\ninputs: [{path: /in/a, tags: ['ready:yes']}]\n")
    knit_id = upload(api, tar_bytes({"a": "1"}), "ready:no").json()["knitId"]
    assert runs.find(api_knit, plan_ids=[plan["planId"]]) == []
    api.put(f"/api/data/{knit_id}", json={"add": ["ready:yes"]})
    assert [r["status"] for r in runs.find(api_knit, plan_ids=[plan["planId"]])] == ["waiting"]


def test_html_in_tags_comes_back_verbatim_in_json(api):
    tag = 'note:<script>alert("x")</script>&amp;'
    pushed = upload(api, tar_bytes({"a": "1"}), tag).json()
    assert tag in pushed["tags"]
    assert tag in api.get("/api/data", params={"tag": tag}).json()[0]["tags"]

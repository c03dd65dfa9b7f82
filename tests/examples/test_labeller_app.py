"""The labelling web app over a real HTTP socket, and its CSV feeding the preprocess program."""

from __future__ import annotations

import http.client
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from urllib.parse import quote, urlencode

import pytest
from example_helpers import PREPROCESS, load_module, read_idx, run

WEIRD = "<b>&\"x'"  # a legal file name that must be escaped wherever the page shows it


@pytest.fixture(scope="module")
def app() -> ModuleType:
    return load_module(PREPROCESS / "labeller" / "app.py", "knit_example_labeller")


@dataclass
class Client:
    port: int
    images: Path
    csv: Path

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            body = urlencode(form).encode() if form is not None else None
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def page(self) -> str:
        status, headers, body = self.request("GET", "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        return body.decode()


def serve(app: ModuleType, images: Path, csv: Path, schema: str) -> Iterator[Client]:
    server = app.LabellerServer(("127.0.0.1", 0), app.Labeller(images, csv, schema), quiet=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Client(server.server_address[1], images, csv)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def images(samples: dict[str, Path], tmp_path: Path) -> Path:
    folder = tmp_path / "data" / "images"
    folder.mkdir(parents=True)
    for n in range(3):
        shutil.copy(samples["imagecsv-v1"] / "images" / f"digit-{n:04d}.png", folder)
    shutil.copy(folder / "digit-0000.png", folder / f"{WEIRD}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture
def client(app: ModuleType, images: Path) -> Iterator[Client]:
    yield from serve(app, images, images.parent / "labels.csv", "v1")


def test_page_image_and_label_round_trip(client: Client) -> None:
    page = client.page()
    assert "0 of 4 images labelled" in page
    assert WEIRD not in page and "<b>" not in page
    assert "&lt;b&gt;&amp;&quot;x&#x27;" in page, "the id is escaped in text and attributes"
    src = f"/image/{quote(WEIRD, safe='')}"
    assert f'src="{src}"' in page

    status, headers, body = client.request("GET", src)
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert body == (client.images / f"{WEIRD}.png").read_bytes()
    for missing in ("/image/nope", "/image/..%2Flabels.csv", "/image/notes.txt", "/elsewhere"):
        assert client.request("GET", missing)[0] == 404, missing

    status, headers, _ = client.request("POST", "/label", {"id": WEIRD, "label": "1"})
    assert status == 303 and headers["Location"] == "/"
    page = client.page()
    assert "1 of 4 images labelled" in page and 'src="/image/digit-0000"' in page, "the next one"
    assert client.csv.read_text() == 'id,label\n"<b>&""x\'",1\n', "header on a new CSV, csv quoting"


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({"id": "digit-0000", "label": "12"}, 400),
        ({"id": "digit-0000", "label": "a"}, 400),
        ({"id": "digit-0000", "label": ""}, 400),
        ({"id": "digit-0000", "label": "٣"}, 400),  # an Arabic-Indic three is a digit to str.isdigit, not to us
        ({"id": "nope", "label": "3"}, 400),
        ({"id": "notes.txt", "label": "3"}, 400),
        ({"id": "../data/images/digit-0000", "label": "3"}, 400),
        ({"label": "3"}, 400),
    ],
)
def test_bad_labels_and_ids_are_refused(client: Client, form: dict[str, str], status: int) -> None:
    code, _, body = client.request("POST", "/label", form)
    assert code == status
    assert b"<" not in body.split(b"<p>", 1)[1].split(b"</p>", 1)[0], "the message is escaped"
    assert not client.csv.exists()


def test_labelling_twice_is_a_conflict(client: Client) -> None:
    assert client.request("POST", "/label", {"id": "digit-0001", "label": "6"})[0] == 303
    assert client.request("POST", "/label", {"id": "digit-0001", "label": "5"})[0] == 409
    assert client.csv.read_text() == "id,label\ndigit-0001,6\n"


def test_v2_schema_then_preprocess(app: ModuleType, images: Path, tmp_path: Path) -> None:
    csv = images.parent / "labels.csv"
    for client in serve(app, images, csv, "v2"):
        for image_id, label in [("digit-0000", "1"), ("digit-0001", "6"), ("digit-0002", "7"), (WEIRD, "1")]:
            assert client.request("POST", "/label", {"id": image_id, "label": label})[0] == 303
        assert "Every image is labelled" in client.page()
    lines = csv.read_text().splitlines()
    assert lines[:2] == [",id,label", ",digit-0000,1"] and len(lines) == 5

    done = run(
        PREPROCESS / "preprocess-v2", "preprocess.py",
        "--data", images.parent, "--save-to", tmp_path / "out", "--schema", "v2", "--samples", "10",
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert read_idx(tmp_path / "out" / "labels.gz")[1].tolist() == [1, 6, 7, 1] * 2 + [1, 6]

    with pytest.raises(ValueError, match="schema v2"):
        app.Labeller(images, csv, "v1")  # a v2 CSV is refused at start by a v1 labeller


def test_main_reports_a_missing_folder(app: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert app.main(["--images", str(tmp_path / "none"), "--csv", str(tmp_path / "l.csv"), "--port", "0"]) == 1
    assert "not a directory" in capsys.readouterr().err


def test_a_malformed_post_is_a_400(client: Client) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", client.port, timeout=10)
    try:
        conn.putrequest("POST", "/label")
        conn.putheader("Content-Length", "lots")
        conn.endheaders()
        assert conn.getresponse().status == 400
    finally:
        conn.close()
    assert client.request("POST", "/label", {"id": "digit-0000", "label": "1", "extra": "x"})[0] == 303
    assert client.request("POST", "/elsewhere", {"id": "digit-0001", "label": "1"})[0] == 404

"""A tiny labelling web app for the preprocess tutorial: show the next unlabelled digit, append its label to a CSV.

    python app.py --images data/images --csv data/labels.csv [--port 8765] [--schema v1|v2]

then open http://127.0.0.1:8765/ and click the digit you see. Each click appends one line to the CSV: ``id,label``
in schema v1, ``,id,label`` in schema v2 (the schema change of the tutorial); a new CSV starts with the header of
its schema. ``data/`` is then what the preprocess Plans read: ``knit data push -t type:data ... -t version:v1.0``.

Standard library only. ``LabellerServer`` is importable and can listen on port 0 (tests, notebooks).
"""

from __future__ import annotations

import argparse
import csv
import html
import re
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

SCHEMAS = {"v1": ["id", "label"], "v2": ["", "id", "label"]}
MAX_FORM = 16 * 1024

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Label digits</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
img {{ width: 224px; height: 224px; image-rendering: pixelated; border: 1px solid #888; object-fit: contain; }}
button {{ font-size: 1.6em; width: 2.2em; margin: 0.1em; }}
</style></head>
<body><h1>Label digits</h1>
<p>{done} of {total} images labelled; appending to <code>{csv}</code> (schema {schema}).</p>
{body}
</body></html>
"""


class LabelError(Exception):
    """A request the app refuses; ``status`` is the HTTP answer."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class Labeller:
    """The images folder and the CSV; one lock, so concurrent clicks append whole lines in order."""

    def __init__(self, images: Path, csv_path: Path, schema: str = "v1") -> None:
        if schema not in SCHEMAS:
            raise ValueError(f"unknown schema {schema!r}: expected one of {sorted(SCHEMAS)}")
        if not images.is_dir():
            raise ValueError(f"{images}: not a directory of images")
        self.images, self.csv_path, self.schema = images, csv_path, schema
        self.lock = threading.Lock()
        self.labelled()  # refuse a CSV in the other schema at start, not at the first click

    def image_ids(self) -> list[str]:
        """Ids the preprocess can read: ``<id>.png`` files, no hidden files, no surrounding blanks."""
        stems = (path.name.removesuffix(".png") for path in self.images.glob("*.png") if path.is_file())
        return sorted(stem for stem in stems if stem and not stem.startswith(".") and stem == stem.strip())

    def labelled(self) -> dict[str, str]:
        """id -> label of the lines already in the CSV."""
        if not self.csv_path.exists():
            return {}
        expected = SCHEMAS[self.schema]
        found: dict[str, str] = {}
        with open(self.csv_path, newline="", encoding="utf-8-sig") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                cells = [cell.strip() for cell in row]
                if not any(cells) or (number == 1 and cells == expected):
                    continue
                if len(cells) != len(expected) or (self.schema == "v2" and cells[0]):
                    other = next(name for name in SCHEMAS if name != self.schema)
                    raise ValueError(
                        f"{self.csv_path} line {number} does not fit schema {self.schema} "
                        f"{','.join(expected)!r}; is it schema {other}? (use --schema {other} or a new CSV)"
                    )
                found[cells[-2]] = cells[-1]
        return found

    def next_unlabelled(self) -> tuple[str | None, int, int]:
        """(next id or None, labelled count, image count)."""
        ids, done = self.image_ids(), self.labelled()
        pending = [image_id for image_id in ids if image_id not in done]
        return (pending[0] if pending else None), len(ids) - len(pending), len(ids)

    def image_bytes(self, image_id: str) -> bytes:
        if image_id not in self.image_ids():
            raise LabelError(HTTPStatus.NOT_FOUND, f"no image {image_id!r}")
        return (self.images / f"{image_id}.png").read_bytes()

    def append(self, image_id: str, label: str) -> None:
        if not re.fullmatch(r"[0-9]", label):
            raise LabelError(HTTPStatus.BAD_REQUEST, f"label {label!r} is not a single digit 0-9")
        if image_id not in self.image_ids():
            raise LabelError(HTTPStatus.BAD_REQUEST, f"id {image_id!r} is not an image in {self.images.name}/")
        with self.lock:
            if image_id in self.labelled():
                raise LabelError(HTTPStatus.CONFLICT, f"{image_id!r} is already labelled")
            new = not self.csv_path.exists() or self.csv_path.stat().st_size == 0
            if not new and not self.csv_path.read_bytes().endswith(b"\n"):
                with open(self.csv_path, "a", encoding="utf-8") as handle:
                    handle.write("\n")
            with open(self.csv_path, "a", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                if new:
                    writer.writerow(SCHEMAS[self.schema])
                writer.writerow(["", image_id, label] if self.schema == "v2" else [image_id, label])


class LabellerHandler(BaseHTTPRequestHandler):
    server: LabellerServer

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        try:
            if path == "/":
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", self._page().encode("utf-8"))
            elif path.startswith("/image/"):
                image = self.server.labeller.image_bytes(unquote(path[len("/image/") :]))
                self._send(HTTPStatus.OK, "image/png", image)
            else:
                raise LabelError(HTTPStatus.NOT_FOUND, f"no page {path!r}")
        except LabelError as exc:
            self._error(exc)

    def do_POST(self) -> None:
        try:
            if urlsplit(self.path).path != "/label":
                raise LabelError(HTTPStatus.NOT_FOUND, "POST goes to /label")
            declared = self.headers.get("Content-Length", "")
            length = int(declared) if declared.isascii() and declared.isdigit() else 0
            if not 0 < length <= MAX_FORM:
                raise LabelError(HTTPStatus.BAD_REQUEST, "expected a small form body")
            form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"), keep_blank_values=True)
            ids, labels = form.get("id", []), form.get("label", [])
            if len(ids) != 1 or len(labels) != 1:
                raise LabelError(HTTPStatus.BAD_REQUEST, "the form needs exactly one id and one label")
            self.server.labeller.append(ids[0], labels[0])
        except LabelError as exc:
            self._error(exc)
            return
        self.send_response(HTTPStatus.SEE_OTHER)  # post/redirect/get: the browser shows the next image
        self.send_header("Location", "/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _page(self) -> str:
        labeller = self.server.labeller
        image_id, done, total = labeller.next_unlabelled()
        if image_id is None:
            body = "<p>Every image is labelled. Push the folder with <code>knit data push</code>.</p>"
        else:
            shown = html.escape(image_id, quote=True)
            buttons = "".join(f'<button type="submit" name="label" value="{d}">{d}</button>' for d in range(10))
            body = (
                f'<figure><img src="/image/{quote(image_id, safe="")}" alt="{shown}"><figcaption>{shown}'
                f'</figcaption></figure>\n<form method="post" action="/label">'
                f'<input type="hidden" name="id" value="{shown}">{buttons}</form>'
            )
        return PAGE.format(
            done=done, total=total, csv=html.escape(str(labeller.csv_path)), schema=labeller.schema, body=body
        )

    def _error(self, exc: LabelError) -> None:
        text = f"<!doctype html><p>{html.escape(str(exc))}</p><p><a href='/'>back</a></p>"
        self._send(exc.status, "text/html; charset=utf-8", text.encode("utf-8"))

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)


class LabellerServer(ThreadingHTTPServer):
    """``LabellerServer(("127.0.0.1", 0), Labeller(...))``; ``server_address[1]`` is the port it got."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], labeller: Labeller, *, quiet: bool = False) -> None:
        self.labeller, self.quiet = labeller, quiet
        super().__init__(address, LabellerHandler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Label digit images into a CSV for the preprocess tutorial.")
    parser.add_argument("--images", type=Path, required=True, help="folder of <id>.png images")
    parser.add_argument("--csv", type=Path, required=True, help="labels CSV to append to (created with a header)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--schema", choices=sorted(SCHEMAS), default="v1", help="v1: id,label  v2: ,id,label")
    args = parser.parse_args(argv)
    try:
        server = LabellerServer((args.host, args.port), Labeller(args.images, args.csv, args.schema))
    except (ValueError, OSError) as exc:
        print(f"labeller: {exc}", file=sys.stderr)
        return 1
    host, port = server.server_address[:2]
    print(f"labelling {args.images} into {args.csv} (schema {args.schema}) on http://{host}:{port}/")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

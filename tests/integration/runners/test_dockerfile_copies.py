"""Which build-context files a Dockerfile puts where (what the process runner binds read-only)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from knit_provider.core.errors import InvalidInput
from knit_provider.runners.dockerfile import Copy, read_context_files


def make(tmp_path: Path, dockerfile: str, files: tuple[str, ...] = ()) -> Path:
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            (tmp_path / name).mkdir(exist_ok=True)
        else:
            (tmp_path / name).write_text(name)
    (tmp_path / "Dockerfile").write_text(textwrap.dedent(dockerfile))
    return tmp_path


def copies(ctx: Path, **kwargs: object) -> list[tuple[str, str, bool]]:
    found = read_context_files(ctx, **kwargs)  # type: ignore[arg-type]
    return [(str(c.source.relative_to(ctx)), c.dest, c.contents) for c in found.copies]


def test_forms_of_copy_and_add(tmp_path: Path) -> None:
    ctx = make(
        tmp_path,
        """\
        FROM base
        ARG CONF=/etc/app
        ENV DATA_DIR=/data
        COPY main.py /app/main.py
        COPY a.txt b.txt /multi/
        COPY ["with space.txt", "${DATA_DIR}/"]
        COPY --chown=1000:1000 --chmod=0644 conf.yaml $CONF/
        COPY --from=builder /out/bin /usr/bin/tool
        ADD https://example.com/x.tar.gz /x/
        ADD --link archive.tar /opt/
        COPY <<EOF /inline.txt
        hello
        EOF
        WORKDIR /srv
        WORKDIR "space dir"
        COPY rel.txt .
        COPY rel.txt sub/
        COPY rel.txt renamed.txt
        COPY *.py /globbed/
        COPY pkg/ /pkg/
        COPY . /ctx
        """,
        ("main.py", "a.txt", "b.txt", "with space.txt", "conf.yaml", "archive.tar", "rel.txt", "tool.py", "pkg/m.py"),
    )
    assert copies(ctx) == [
        ("main.py", "/app/main.py", False),
        ("a.txt", "/multi/a.txt", False),
        ("b.txt", "/multi/b.txt", False),
        ("with space.txt", "/data/with space.txt", False),
        ("conf.yaml", "/etc/app/conf.yaml", False),
        ("archive.tar", "/opt/archive.tar", False),
        ("rel.txt", "/srv/space dir/rel.txt", False),
        ("rel.txt", "/srv/space dir/sub/rel.txt", False),
        ("rel.txt", "/srv/space dir/renamed.txt", False),
        ("main.py", "/globbed/main.py", False),
        ("tool.py", "/globbed/tool.py", False),
        ("pkg", "/pkg", True),
        (".", "/ctx", True),
    ]
    found = read_context_files(ctx)
    assert found.workdir == "/srv/space dir"
    assert {"/srv", "/srv/space dir", "/multi", "/pkg", "/ctx", "/globbed"} <= set(found.dirs)


def test_a_file_copied_onto_an_existing_directory_lands_inside_it(tmp_path: Path) -> None:
    ctx = make(
        tmp_path,
        "FROM base\nWORKDIR /app\nCOPY run.sh /usr/local/bin\nCOPY run.sh /app\nCOPY run.sh /renamed\n",
        ("run.sh",),
    )
    assert copies(ctx, is_dir=lambda path: path == "/usr/local/bin") == [
        ("run.sh", "/usr/local/bin/run.sh", False),
        ("run.sh", "/app/run.sh", False),  # a WORKDIR exists in the image
        ("run.sh", "/renamed", False),
    ]


def test_only_the_last_stage_and_its_bases_count(tmp_path: Path) -> None:
    ctx = make(
        tmp_path,
        """\
        FROM base AS deps
        WORKDIR /deps
        COPY req.txt .
        FROM base AS unrelated
        COPY other.txt /other.txt
        FROM deps
        COPY main.py .
        """,
        ("req.txt", "other.txt", "main.py"),
    )
    assert copies(ctx) == [("req.txt", "/deps/req.txt", False), ("main.py", "/deps/main.py", False)]
    assert read_context_files(ctx).workdir == "/deps"


def test_copy_without_base_stage_copies(tmp_path: Path) -> None:
    ctx = make(tmp_path, 'FROM base AS a\nCOPY x /x\nFROM other\nCMD ["true"]\n', ("x",))
    assert copies(ctx) == []


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ("COPY missing.txt /x", r"Dockerfile:2: COPY source 'missing.txt' is not in the build context"),
        ("COPY ../secret /x", r"Dockerfile:2: COPY source '../secret' is outside the build context"),
        ("COPY *.none /x/", r"Dockerfile:2: COPY source '\*.none' matches no file"),
        ("ADD onlyone", r"Dockerfile:2: ADD needs a source and a destination"),
    ],
)
def test_bad_sources_name_the_line(tmp_path: Path, line: str, pattern: str) -> None:
    ctx = make(tmp_path, f"FROM base\n{line}\n")
    with pytest.raises(InvalidInput, match=pattern):
        read_context_files(ctx)


def test_copy_entries_are_plain_values() -> None:
    assert Copy(Path("/a"), "/b", False) == Copy(Path("/a"), "/b", False)

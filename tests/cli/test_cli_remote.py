"""The mode rule (a profile naming an Airflow and no local catalog is remote) and the remote mode's own failures:
a server that is not there, or refuses the credentials, is exit 1 with a line naming the Airflow, and nothing
changes. The commands themselves are tested in both modes by the other files of this folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_remote import USER, empty_catalog

UNREACHABLE = "http://127.0.0.1:9"


def one_line(text: str) -> str:
    assert text.strip().count("\n") == 0, text
    return text.strip()


def test_init_help_states_the_mode_rule(run_knit) -> None:
    shown = run_knit("init", "--help")
    assert shown.code == 0
    assert "REMOTE  --airflow URL without --home and --catalog-url" in shown.stdout
    assert "LOCAL   --home and/or --catalog-url" in shown.stdout and "KNIT_REMOTE_URL" in shown.stdout


def test_an_airflow_without_a_local_catalog_is_remote(run_knit, workdir: Path, tmp_path: Path) -> None:
    made = run_knit("init", "--airflow", UNREACHABLE, "--token", "t", "far")
    assert made.code == 0 and f"(remote: through {UNREACHABLE})" in made.stderr
    found = run_knit("data", "find")
    assert found.code == 1 and found.stdout == ""
    assert one_line(found.stderr).startswith(f"knit: cannot talk to {UNREACHABLE}") and "profile 'far'" in found.stderr
    assert not (tmp_path / "home").exists(), "no local catalog was opened"


@pytest.mark.parametrize("local_option", ["--home", "--catalog-url"])
def test_an_airflow_with_a_local_catalog_is_local(run_knit, workdir: Path, tmp_path: Path, local_option) -> None:
    catalog_file = tmp_path / "mine" / "catalog.db" if local_option == "--home" else tmp_path / "mine.db"
    value = str(catalog_file.parent) if local_option == "--home" else f"sqlite:///{catalog_file}"
    made = run_knit("init", local_option, value, "--airflow", UNREACHABLE, "--token", "t", "near")
    assert made.code == 0 and "(local, catalog " in made.stderr
    found = run_knit("data", "find")
    assert found.code == 0 and found.json() == [], "reads never ask the Airflow"
    assert catalog_file.exists(), "the profile's local catalog was opened"


def test_knit_remote_url_without_a_profile_is_remote(run_knit, workdir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KNIT_REMOTE_URL", UNREACHABLE)
    found = run_knit("plan", "find")
    assert found.code == 1 and UNREACHABLE in one_line(found.stderr) and "KNIT_REMOTE_URL" in found.stderr
    assert not (tmp_path / "home").exists()
    monkeypatch.setenv("KNIT_REMOTE_URL", "localhost:8080")
    bad = run_knit("plan", "find")
    assert bad.code == 1 and "'localhost:8080'" in one_line(bad.stderr) and "KNIT_REMOTE_URL" in bad.stderr


def test_init_refuses_a_url_that_is_not_http(run_knit, workdir: Path) -> None:
    refused = run_knit("init", "--airflow", "localhost:8080", "--token", "t", "far")
    assert refused.code == 2 and "--airflow" in refused.stderr
    assert not (workdir / ".knitprofile").exists()
    assert (
        run_knit("init", "--airflow", "http://x:1", "--token", "t", "--username", "u", "--password", "p", "x").code == 2
    )


@pytest.mark.e2e
def test_bad_credentials_are_exit_1_naming_the_airflow_and_change_nothing(
    run_knit, workdir: Path, folder, knit_server, server_knit
) -> None:
    empty_catalog(server_knit)
    assert run_knit("init", "--airflow", knit_server.url, "--username", USER, "--password", "wrong", "bad").code == 0
    folder("d")
    pushed = run_knit("data", "push", "-t", "a:1", "d")
    assert pushed.code == 1 and pushed.stdout == ""
    assert pushed.stderr.startswith("[1/1] sending... d\n")
    line = one_line(pushed.stderr.split("\n", 1)[1])
    assert line.startswith(f"knit: login as '{USER}' failed") and f"Airflow at {knit_server.url}" in line
    (workdir / "p.yaml").write_text("image: x/y:1\ninputs: [{path: /in/x, tags: ['a:1']}]\n")
    assert run_knit("plan", "apply", "p.yaml").code == 1
    assert run_knit("init", "--airflow", knit_server.url, "--token", "not-a-jwt", "bad").code == 0
    refused = run_knit("data", "find")
    assert refused.code == 1 and f"Airflow at {knit_server.url}" in one_line(refused.stderr)
    from knit_provider.service import data, plans

    assert data.find(server_knit) == [] and plans.find(server_knit) == [], "nothing reached the catalog"
    assert [p for p in server_knit.store.root.iterdir() if not p.name.startswith(".")] == []


@pytest.mark.e2e
def test_knit_remote_url_with_credentials_works(run_knit, workdir: Path, folder, knit_server, server_knit, monkeypatch):
    empty_catalog(server_knit)
    monkeypatch.setenv("KNIT_REMOTE_URL", knit_server.url)
    monkeypatch.setenv("KNIT_AIRFLOW_USERNAME", USER)
    monkeypatch.setenv("KNIT_AIRFLOW_PASSWORD", knit_server.password())
    folder("d")
    pushed = run_knit("data", "push", "-t", "via:env", "d")
    assert pushed.code == 0, pushed.stderr
    assert [d["knitId"] for d in run_knit("data", "find", "-t", "via:env").json()] == [pushed.json()["knitId"]]


SAME_IN_BOTH_MODES = [
    ("data", "find"),
    ("plan", "find", "--active", "no"),
    ("run", "find", "-s", "waiting"),
    ("data", "tag", "--add", "a:b", "no-such-id"),
    ("data", "find", "-t", "nocolon"),
    ("data", "find", "--since", "yesterday"),
    ("data", "pull", "no-such-id", "out"),
    ("data", "pull", "-x", "no-such-id", "out"),
    ("data", "lineage", "no-such-id"),
    ("data", "lineage", "-n", "0", "no-such-id"),
    ("plan", "show", "no-such-id"),
    ("plan", "apply", "../typo.yaml"),
    ("plan", "graph", "no-such-id"),
    ("plan", "resource", "-s", "cpu=2", "no-such-id"),
    ("plan", "active", "no", "no-such-id"),
    ("run", "find", "-s", "nonsense"),
    ("run", "show", "no-such-id"),
    ("run", "show", "--log", "no-such-id"),
    ("run", "stop", "no-such-id"),
    ("run", "retry", "no-such-id"),
    ("run", "rm", "no-such-id"),
]


@pytest.mark.e2e
def test_outputs_and_exit_codes_are_the_same_in_both_modes(
    run_knit, workdir: Path, tmp_path: Path, knit_server, server_knit, monkeypatch
) -> None:
    empty_catalog(server_knit)
    (workdir / "typo.yaml").write_text("image: x/y:1\ninputs: [{path: /in/x, tags: ['a:1']}]\nresouces: {}\n")
    seen = {}
    for mode in ("local", "remote"):
        (workdir / mode).mkdir()
        monkeypatch.chdir(workdir / mode)
        where = ["--home", str(tmp_path / "local-home")] if mode == "local" else ["--username", USER]
        where += ["--password", knit_server.password()] if mode == "remote" else []
        assert run_knit("init", "--airflow", knit_server.url, *where, mode).code == 0
        seen[mode] = [(args, *vars(run_knit(*args)).values()) for args in SAME_IN_BOTH_MODES]
        assert not (workdir / mode / "out").exists(), "a failed pull leaves nothing behind"
    for local, remote in zip(seen["local"], seen["remote"], strict=True):
        assert local == remote
    usage = ("run", "find", "-s", "nonsense")  # a usage error, as in Knitfab
    assert {r[1] for r in seen["local"][:3]} == {0} and {r[1] for r in seen["local"][3:] if r[0] != usage} == {1}
    assert [r[1] for r in seen["local"] if r[0] == usage] == [2]

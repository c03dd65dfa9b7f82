"""CLI extensions, as Knitfab v1.1+: ``knit NAME ARGS...`` runs the program ``knit-NAME`` found on ``PATH``.

Built-in verbs win over extensions; among programs of one name, the first on ``PATH`` wins. The program gets
``knit``'s stdin, stdout and stderr, every argument after ``NAME`` (``--help`` too), and, besides the
environment, what Knitfab gives it:

- ``KNIT_PROFILE``: the profile in effect (the name in the nearest ``.knitprofile``; empty without one);
- ``KNIT_PROFILE_STORE``: the profile store file (``$KNIT_PROFILE_STORE``, else ``~/.knit/profile``);
- ``KNIT_ENV``: the knitenv file in effect (the nearest ``knitenv`` upward, else ``./knitenv``).

``knit``'s exit code is the program's (128 + N when a signal N ended it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from knit_provider.cli.profiles import PROFILE_FILE, find_upward, store_path
from knit_provider.core.knitenv import KNITENV_FILE, find_knitenv

PREFIX = "knit-"
#: Knitfab also strips these (Windows) suffixes from an extension's name
_SUFFIXES = (".exe", ".bat", ".cmd", ".com")


def find_extensions(path: str | None = None) -> dict[str, Path]:
    """Extension name -> program, over ``PATH`` in order (the first program of a name wins)."""
    found: dict[str, Path] = {}
    for folder in (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep):
        try:
            entries = sorted(os.scandir(folder or "."), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if not entry.name.startswith(PREFIX) or len(entry.name) == len(PREFIX):
                continue
            try:
                usable = entry.is_file() and os.access(entry.path, os.X_OK)
            except OSError:
                continue
            name = entry.name[len(PREFIX) :]
            name = next((name[: -len(s)] for s in _SUFFIXES if name.endswith(s) and len(name) > len(s)), name)
            if usable and name not in found:
                found[name] = Path(entry.path).absolute()
    return found


def extension_environment(cwd: Path) -> dict[str, str]:
    """The variables Knitfab's ``knit`` adds to an extension's environment."""
    marker = find_upward(cwd.resolve(), PROFILE_FILE)
    profile = marker.read_text().strip().splitlines()[0].strip() if marker is not None and marker.read_text() else ""
    knitenv = find_knitenv(cwd) or cwd.absolute() / KNITENV_FILE
    return {"KNIT_PROFILE": profile, "KNIT_PROFILE_STORE": str(store_path()), "KNIT_ENV": str(knitenv)}


def extension_command(name: str, program: Path) -> click.Command:
    """A command that hands everything after ``knit NAME`` to ``program`` and exits as it did."""

    @click.command(
        name=name,
        help=f"(= {program})",
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "allow_interspersed_args": False},
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    @click.pass_context
    def run(ctx: click.Context, args: tuple[str, ...]) -> None:
        env = {**os.environ, **extension_environment(Path.cwd())}
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            done = subprocess.run([str(program), *args], env=env, check=False)  # noqa: S603 - the user's own program
        except OSError as err:
            click.echo(f"knit: extension {name} ({program}) cannot be run: {err.strerror or err}", err=True)
            ctx.exit(126)
        ctx.exit(done.returncode if done.returncode >= 0 else 128 - done.returncode)

    return run

"""Profiles: which catalog a directory works against (``knit init``), found through ``.knitprofile``.

As in Knitfab, ``knit init NAME`` saves the profile in a store (``~/.knit/profile``, or
``$KNIT_PROFILE_STORE``) and writes the profile's name into ``.knitprofile`` in the current directory;
every command then looks for ``.knitprofile`` upward from where it runs. Without one, the environment
(``KNIT_REMOTE_URL``, ``KNIT_HOME``, ``KNIT_CATALOG_URL``, ``KNIT_AIRFLOW_URL``...) decides. Whether a profile is
local or remote is ``cli.backend``'s mode rule.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from knit_provider.core.documents import load_yaml
from knit_provider.core.errors import InvalidInput, shown

PROFILE_FILE = ".knitprofile"


@dataclass(frozen=True)
class Profile:
    home: str | None = None
    catalog_url: str | None = None
    #: Airflow's base URL: without home and catalog_url, every command goes through its Knit API (remote);
    #: with either, writes to the local catalog start their Runs' DagRuns through its REST API at once
    airflow_url: str | None = None
    airflow_username: str | None = None
    airflow_password: str | None = None
    airflow_token: str | None = None
    #: the local mode's Data store URL (else ``KNIT_DATA_STORE``, else ``<home>/data``)
    data_store: str | None = None


def store_path() -> Path:
    return Path(os.environ.get("KNIT_PROFILE_STORE") or Path.home() / ".knit" / "profile").expanduser()


def load_store() -> dict[str, Profile]:
    path = store_path()
    if not path.exists():
        return {}
    raw = load_yaml(path.read_text(), source=f"profile store {path}") or {}
    try:
        return {name: Profile(**(fields or {})) for name, fields in raw.items()}
    except (TypeError, AttributeError) as err:
        raise InvalidInput(f"profile store {path} is not a valid profile file: {shown(str(err))}") from None


def save_profile(name: str, profile: Profile, cwd: Path) -> Path:
    if not name or "\n" in name:
        raise InvalidInput(f"bad profile name {shown(name)}", field="PROFILE")
    store = load_store()
    store[name] = profile
    path = store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    serial = {key: {k: v for k, v in asdict(p).items() if v is not None} for key, p in store.items()}
    path.write_text(yaml.safe_dump(serial, sort_keys=True))
    path.chmod(0o600)  # it may hold Airflow credentials
    marker = cwd / PROFILE_FILE
    marker.write_text(name)
    marker.chmod(0o600)
    return path


def find_upward(start: Path, name: str) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def active_profile(cwd: Path) -> tuple[str, Profile] | None:
    """The profile named by the nearest ``.knitprofile`` above ``cwd``, if any."""
    marker = find_upward(cwd.resolve(), PROFILE_FILE)
    if marker is None:
        return None
    name = marker.read_text().strip()
    store = load_store()
    if name not in store:
        raise InvalidInput(f"profile {shown(name)} (from {marker}) not found in the profile store ({store_path()})")
    return name, store[name]

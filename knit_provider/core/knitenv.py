"""The ``knitenv`` file: tags and resources a project adds to ``knit data push`` and ``knit plan template``.

YAML, as Knitfab's ``cmd/knit/env/knitenv.go``::

    tag: ["project:some-project"]
    resource: {cpu: 1, memory: 1Gi}

Found by walking up from the working directory to ``/``; a missing file is an empty knitenv. Beyond Knitfab
(whose YAML decoder ignores them), unknown keys are refused with a did-you-mean hint, like plan YAML.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from knit_provider.core.documents import load_yaml
from knit_provider.core.errors import InvalidInput, shown
from knit_provider.core.plan_spec import parse_resource
from knit_provider.core.tags import parse_user_tags

KNITENV_FILE = "knitenv"
_KEYS = ("tag", "resource")

__all__ = ["KNITENV_FILE", "KnitEnv", "find_knitenv", "load_knitenv"]


@dataclass(frozen=True)
class KnitEnv:
    tags: list[str] = field(default_factory=list)  # normalised "key:value", duplicates removed, file order
    resources: dict[str, str] = field(default_factory=dict)  # resource name -> quantity text


def find_knitenv(start: Path) -> Path | None:
    """The first regular file named ``knitenv`` in ``start`` or one of its parents, up to ``/``."""
    directory = Path(start).absolute()
    for candidate_dir in (directory, *directory.parents):
        candidate = candidate_dir / KNITENV_FILE
        if candidate.is_file():
            return candidate
    return None


def load_knitenv(path: Path | None) -> KnitEnv:
    """Read and validate a knitenv file; ``None`` or a missing file is an empty KnitEnv."""
    if path is None:
        return KnitEnv()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return KnitEnv()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"knitenv {path}: cannot read: {exc}") from None
    data = load_yaml(text, source=f"knitenv {path}")
    if data is None:
        return KnitEnv()
    if not isinstance(data, dict):
        raise InvalidInput(f"knitenv {path}: must be a mapping with 'tag' and/or 'resource', got {shown(data)}")
    for key in data:
        if key not in _KEYS:
            close = difflib.get_close_matches(str(key), _KEYS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(_KEYS)}"
            raise InvalidInput(f"knitenv {path}: unknown key {shown(key)} ({hint})")
    try:
        return KnitEnv(tags=_tags(data.get("tag")), resources=_resources(data.get("resource")))
    except InvalidInput as exc:
        raise InvalidInput(f"knitenv {path}: {exc}") from None


def _tags(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"must be a list of 'key:value' tags, got {shown(value)}", field="tag")
    for index, item in enumerate(value):
        if isinstance(item, dict) and len(item) == 1:
            ((k, v),) = item.items()
            raise InvalidInput(
                f"tag {shown(item)} was read as a mapping: write {shown(f'{k}:{v}')} without a space after ':', "
                "or quote it",
                field=f"tag[{index}]",
            )
    return [str(tag) for tag in parse_user_tags(value, field="tag")]


def _resources(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"must be a mapping of resource name to quantity, got {shown(value)}", field="resource")
    return dict(parse_resource(name, quantity, field=f"resource.{name}") for name, quantity in value.items())

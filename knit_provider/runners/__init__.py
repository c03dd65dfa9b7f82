"""How a Run's program is executed: ``process`` (bubblewrap on the host) and ``docker``.

``make_runner(kind, image_map=ImageMap.from_env(), **options)`` -> a :class:`Runner`.
"""

from knit_provider.runners.base import RUNNER_KINDS, Mount, Runner, RunRequest, RunResult, make_runner
from knit_provider.runners.image_map import ImageMap, normalize_image

__all__ = [
    "RUNNER_KINDS",
    "ImageMap",
    "Mount",
    "RunRequest",
    "RunResult",
    "Runner",
    "make_runner",
    "normalize_image",
]

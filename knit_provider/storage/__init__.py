"""Where Data content lives: a local directory tree per Data (object storage may follow behind the same API)."""

from knit_provider.storage.local import LocalStore
from knit_provider.storage.tree import ContentInfo

__all__ = ["ContentInfo", "LocalStore"]

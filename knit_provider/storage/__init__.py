"""Where Data content lives, behind one interface (``DataStore``): a local directory tree per Data (``LocalStore``)
or an object store through fsspec (``ObjectStore``: S3, GCS, Azure Blob). Nothing above ``storage/`` knows which."""

from knit_provider.storage.base import DataStore, open_store
from knit_provider.storage.local import LocalStore
from knit_provider.storage.tree import ContentInfo

__all__ = ["ContentInfo", "DataStore", "LocalStore", "open_store"]

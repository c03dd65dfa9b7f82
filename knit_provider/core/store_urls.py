"""Data store URLs: ``file:///dir`` (or empty) is a local directory, anything else an object store."""

from __future__ import annotations

from urllib.parse import urlsplit

#: The package extra that installs a scheme's fsspec library and Airflow provider.
EXTRA_OF = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "abfs": "azure", "abfss": "azure", "az": "azure"}


def is_local(url: str | None) -> bool:
    return not url or urlsplit(url).scheme in ("", "file", "local")


def describe(url: str) -> str:
    """The URL without user information (what may appear in messages and pages)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return parts._replace(netloc=host).geturl()

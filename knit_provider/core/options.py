"""The ``[knit]`` options: one table, read by the settings resolver and published by ``get_provider_info``.

Kept import-light (plain data) because Airflow reads provider metadata often.
"""

from __future__ import annotations

RUNNERS = ("process", "docker", "kubernetes")

#: name -> (default as Airflow config text, description). ``get_provider_info`` publishes this table.
OPTIONS: dict[str, tuple[str, str]] = {
    "catalog_url": (
        "",
        "SQLAlchemy URL of the Knit catalog (sqlite:///... or postgresql+psycopg://...). "
        "Empty: KNIT_CATALOG_URL, else catalog.db under the knit home.",
    ),
    "knit_home": ("", "Directory holding the default catalog file and the Data store. Empty: KNIT_HOME, else ~/.knit."),
    "runner": ("process", "How Runs execute: process (bubblewrap sandbox), docker, or kubernetes."),
    "image_map": (
        "",
        "Image map files (YAML 'image: build-context-dir'), separated by the OS path separator; "
        "empty: KNIT_IMAGE_MAP. The process runner needs every image mapped; docker builds mapped images.",
    ),
    "poll_interval": ("0.2", "Seconds between the catalog trigger's polls (one indexed query each)."),
    "reconcile_interval": (
        "10",
        "Seconds between reconciliation passes while Runs are held: a Run whose task died is failed then.",
    ),
    "redispatch_after": ("10", "Seconds before a waiting Run whose dispatch failed is dispatched again."),
}

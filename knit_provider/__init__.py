"""airflow-provider-knit: Knitfab's tag-driven workflows and lineage on Apache Airflow 3."""

__version__ = "0.1.0"

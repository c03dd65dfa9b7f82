"""Development support for airflow-provider-knit, never shipped in its wheel: a local Airflow for Knit
(``standalone``: the quickstart, the examples, the end-to-end tests and the benchmarks; ``cluster``: the components
as separate processes on PostgreSQL) and the real servers the tests start (PostgreSQL, dockerd, headless Chromium,
a Kubernetes API stand-in)."""

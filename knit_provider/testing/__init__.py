"""Helpers for tests and benchmarks that need real servers (no Airflow, no catalog imports)."""

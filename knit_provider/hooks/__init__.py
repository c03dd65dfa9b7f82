"""Airflow adapters: hooks."""

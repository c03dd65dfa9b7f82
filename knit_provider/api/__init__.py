"""Airflow adapters: api."""

"""Airflow adapters: triggers."""

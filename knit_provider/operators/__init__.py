"""Airflow adapters: operators."""

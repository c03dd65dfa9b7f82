"""Airflow adapters: sensors."""

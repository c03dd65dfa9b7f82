"""Airflow's public REST API over HTTP, for code that runs outside Airflow (the ``knit`` CLI); never imports Airflow."""

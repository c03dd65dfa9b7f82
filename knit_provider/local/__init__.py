"""Local deployments of Knit (airflow standalone)."""

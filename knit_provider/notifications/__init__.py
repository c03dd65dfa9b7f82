"""Airflow notifiers for a Plan's Runs (beyond Knitfab), built from ``knit.notify.*`` annotations."""

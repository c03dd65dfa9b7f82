"""Knit Run status changes for Airflow's listeners (beyond Knitfab): the ``knit_run_state_changed`` hook spec."""

"""Pure domain rules: tags, plan spec, Run lifecycle, matching, graphs. No Airflow, no SQL."""

"""Knit's DAGs for Airflow's DAG processor: ``knit_generator`` and one ``knit_plan__<slug>`` per Plan.

Copy (or symlink) this file into your dags folder; everything else comes from the installed provider.
"""

from knit_provider.dags.factory import knit_dags

globals().update(knit_dags())

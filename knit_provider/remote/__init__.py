"""A client for the Knit REST API (``/knit/api`` on Airflow's api-server): Airflow-free, httpx only."""

from knit_provider.remote.client import KnitClient, RemoteError

__all__ = ["KnitClient", "RemoteError"]

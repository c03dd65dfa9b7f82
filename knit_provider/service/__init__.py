"""The one use-case layer: the CLI, the REST API and the Airflow operators all call these functions.

Each function is one catalog transaction (plus, for uploads and discards, the Data store around it).
"""

from knit_provider.service.context import Knit, StoreSpec
from knit_provider.storage.spec import parse_options as parse_store_options

__all__ = ["Knit", "StoreSpec", "parse_store_options"]

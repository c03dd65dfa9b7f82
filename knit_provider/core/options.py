"""The ``[knit]`` options: one table, read by the settings resolver and published by ``get_provider_info``.

Kept import-light (plain data) because Airflow reads provider metadata often.
"""

from __future__ import annotations

RUNNERS = ("process", "docker", "kubernetes")

#: name -> (default as Airflow config text, description). ``get_provider_info`` publishes this table.
OPTIONS: dict[str, tuple[str, str]] = {
    "catalog_url": (
        "",
        "SQLAlchemy URL of the Knit catalog (sqlite:///... or postgresql+psycopg://...). "
        "Empty: KNIT_CATALOG_URL, else catalog.db under the knit home.",
    ),
    "knit_home": ("", "Directory holding the default catalog file and the Data store. Empty: KNIT_HOME, else ~/.knit."),
    "runner": ("process", "How Runs execute: process (bubblewrap sandbox), docker, or kubernetes."),
    "image_map": (
        "",
        "Image map files (YAML 'image: build-context-dir'), separated by the OS path separator; "
        "empty: KNIT_IMAGE_MAP. The process runner needs every image mapped; docker builds mapped images.",
    ),
    "poll_interval": ("0.2", "Seconds between the catalog trigger's polls (one indexed query each)."),
    "reconcile_interval": (
        "10",
        "Seconds between reconciliation passes while Runs are held: a Run whose task died is failed then.",
    ),
    "redispatch_after": ("10", "Seconds before a waiting Run whose dispatch failed is dispatched again."),
    # ---- the kubernetes runner (KubernetesPodOperator) ----
    "kubernetes_namespace": ("default", "Namespace of the Runs' pods (kubernetes runner)."),
    "kubernetes_volume_mode": (
        "shared",
        "Where pods find Data: shared (one ReadWriteMany claim holding the Data store, mounted with subPath = "
        "the Data's directory) or per-data (one claim per Data, named kubernetes_claim_prefix + knit id). "
        "Airflow's workers must see the same store under the knit home to register outputs.",
    ),
    "kubernetes_data_claim": ("knit-data", "The shared ReadWriteMany PersistentVolumeClaim (volume mode shared)."),
    "kubernetes_claim_prefix": ("knit-data-", "Claim name prefix in volume mode per-data: <prefix><knit id>."),
    "kubernetes_image_pull_secrets": ("", "Comma-separated names of image pull secrets given to every Run's pod."),
    "kubernetes_labels": ("", "Extra labels on every Run's pod, comma-separated key=value (Knit's own win)."),
    "kubernetes_startup_timeout": (
        "120",
        "Seconds a scheduled pod may take to start (image pull, mounts) before its Run fails with the reason.",
    ),
    "kubernetes_schedule_timeout": (
        "",
        "Seconds a pod may wait to be scheduled before its Run fails with the reason. Empty: the startup timeout.",
    ),
    "kubernetes_conn_id": (
        "kubernetes_default",
        "Airflow connection (cncf.kubernetes) for the cluster; a missing kubernetes_default means in-cluster "
        "config, else the kubeconfig file (KUBECONFIG).",
    ),
    "kubernetes_in_cluster": ("", "true: use the in-cluster service account config. Empty: as the connection says."),
    "kubernetes_config_file": ("", "Kubeconfig file for the cluster. Empty: as the connection says, else KUBECONFIG."),
}

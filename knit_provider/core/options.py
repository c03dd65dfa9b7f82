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
    "catalog_name": (
        "knit",
        "This catalog's name in Airflow's world: KnitAsset URIs (knit://<name>/data?tag=...) and the OpenLineage "
        "namespace of its Data (knit://<name>).",
    ),
    "runner": ("process", "How Runs execute: process (bubblewrap sandbox), docker, or kubernetes."),
    "image_map": (
        "",
        "Image map files (YAML 'image: build-context-dir'), separated by the OS path separator; "
        "empty: KNIT_IMAGE_MAP. The process runner needs every image mapped; docker builds mapped images.",
    ),
    "docker_user": (
        "",
        "The user the docker runner runs containers as (docker run --user). Empty: the image's own user (often "
        "root, so the Data it writes belong to root); worker: the worker's uid:gid, so a laptop's user can read, "
        "delete and purge them; or a uid[:gid] or name[:group].",
    ),
    "poll_interval": ("0.2", "Seconds between the catalog trigger's polls (one indexed query each)."),
    "reconcile_interval": (
        "10",
        "Seconds between reconciliation passes while Runs are held: a Run whose task died is failed then.",
    ),
    "redispatch_after": ("10", "Seconds before a waiting Run whose dispatch failed is dispatched again."),
    "default_timeout": (
        "",
        "A Run attempt's timeout (a duration such as 2h) for Plans whose YAML sets no timeout. Empty: none.",
    ),
    "default_retries": ("0", "Automatic retries of a failed Run attempt for Plans whose YAML sets no retries."),
    "default_retry_delay": ("30s", "The delay before an automatic retry, for Plans whose YAML sets none."),
    "hooks": (
        "",
        "Knitfab's lifecycle hooks: the path of a hooks file in Knitfab's format ('lifecycle-hooks: {before: "
        "[URL...], after: [URL...]}', read again when it changes; missing: none yet), or that YAML inline. Each "
        "URL is POSTed the Run's JSON before / after the Run enters ready, starting, running, completing, aborting, "
        "done and failed, at least once, in order per Run and URL. Empty: no hooks.",
    ),
    "hook_timeout": ("10", "Seconds a lifecycle hook may take to answer one call before the call counts as failed."),
    "hook_expire": (
        "24h",
        "How long a failing lifecycle hook call is retried (with backoff) before it is given up as failed "
        "(knit admin hooks lists it).",
    ),
    "hook_max_backoff": ("5m", "The longest wait between two tries of a failing lifecycle hook call."),
    "on_failure_notifier": (
        "",
        "An Airflow notifier for every Plan's failed Runs (its DAG's on_failure_callback), as the annotation "
        "knit.notify.on_failure takes it: slack://CONN_ID, or the import path of a BaseNotifier (class or "
        "instance). Empty: none.",
    ),
    "heartbeat_timeout": (
        "30",
        "Seconds without a heartbeat from a running Run's task (it beats every sixth of this) before reconciliation "
        "fails the Run as lost: a killed worker is seen this quickly instead of after Airflow's task timeout.",
    ),
    "max_upload_bytes": (
        "10GiB",
        "Largest upload through the REST API (knit data push in the remote mode), counted unpacked: each file's "
        "bytes plus 512 per entry, so a small gzip bomb is refused as soon as it unpacks past it. A number of "
        "bytes, or with KiB, MiB, GiB or TiB; 0: unlimited.",
    ),
    "backfill_confirm": (
        "1000",
        "A Plan whose apply would create more Runs than this (a backfill over existing Data) is refused unless "
        "confirmed (knit plan apply --yes; REST: yes=true), naming the count; 0: never asked. The knit CLI in the "
        "local mode reads KNIT_BACKFILL_CONFIRM.",
    ),
    "retention_schedule": (
        "@daily",
        "Schedule of the knit_retention DAG, which applies the retention policies declared in the knit "
        "connection's retention extra, else in <knit home>/retention.yaml.",
    ),
    # ---- where Data live ----
    "data_store": (
        "",
        "Where Data content lives: a URL. Empty or file:///path: a local directory (default <knit home>/data; "
        "shared by every worker and pod). s3://bucket/prefix, gs://bucket/prefix, abfs://container/prefix: an "
        "object store through Airflow's ObjectStoragePath, with no shared filesystem. Empty: KNIT_DATA_STORE.",
    ),
    "data_store_conn_id": (
        "",
        "Airflow connection holding the object store's credentials (aws, google_cloud_platform, wasb...). "
        "Empty: the store's own defaults (AWS_* variables, instance or pod identity).",
    ),
    "data_store_options": (
        "",
        "fsspec storage options for the object store as a JSON object, without secrets "
        '(e.g. {"endpoint_url": "http://minio:9000"}). Empty: KNIT_DATA_STORE_OPTIONS.',
    ),
    "cache_dir": (
        "",
        "This machine's cache of Data fetched from an object store for Runs, and their outputs until uploaded. "
        "Empty: KNIT_CACHE_DIR, else <knit home>/cache.",
    ),
    "cache_size": (
        "",
        "The most the input cache keeps (least recently used Data evicted first; Data in use never are). "
        "KiB, MiB, GiB or TiB, or bytes. Empty: KNIT_CACHE_SIZE, else 20GiB.",
    ),
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
    "kubernetes_stager_image": (
        "",
        "With Data on an object store: the image Runs' pods fetch inputs and upload outputs with (an init "
        "container and a native sidecar running python3 -m knit_provider.stager); any image with this package "
        "and its object-store extra, e.g. the Airflow image Knit runs in.",
    ),
    "kubernetes_store_secret": (
        "",
        "With Data on an object store: a Secret in the Runs' namespace whose keys become the stager's environment "
        "(e.g. AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY). Empty: the pod's service account identity (IRSA, GKE or "
        "Azure workload identity) or the store's defaults.",
    ),
    "kubernetes_upload_timeout": (
        "600",
        "With Data on an object store: seconds a pod has, once its program ended, to upload its outputs (the pod's "
        "terminationGracePeriodSeconds).",
    ),
    "kubernetes_conn_id": (
        "kubernetes_default",
        "Airflow connection (cncf.kubernetes) for the cluster; a missing kubernetes_default means in-cluster "
        "config, else the kubeconfig file (KUBECONFIG).",
    ),
    "kubernetes_in_cluster": ("", "true: use the in-cluster service account config. Empty: as the connection says."),
    "kubernetes_config_file": ("", "Kubeconfig file for the cluster. Empty: as the connection says, else KUBECONFIG."),
}

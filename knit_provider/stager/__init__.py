"""The stager: what a Run's pod runs beside the program when Data live on an object store (no shared volume).

``python -m knit_provider.stager fetch KNIT_ID=DIR...`` (the pod's init container) writes each input Data into
its directory of the pod's ``knit-inputs`` volume, every byte checked against its manifest, before the program
starts. ``python -m knit_provider.stager upload --on-term KNIT_ID=DIR...`` (a native sidecar: an init container
with ``restartPolicy: Always``) waits until kubelet stops it, which it does once the program has ended, then commits
each output directory as its Data (objects first, manifest last) and exits; the Run's task then finds the
manifests. Any image and entrypoint work for the program: it only sees directories.

The store comes from ``KNIT_DATA_STORE`` (and ``KNIT_DATA_STORE_OPTIONS``), its credentials from the provider's
standard places: variables from a Kubernetes secret (``[knit] kubernetes_store_secret``, e.g. ``AWS_*``) or the
pod's service account (IRSA, GKE workload identity, Azure workload identity).
"""

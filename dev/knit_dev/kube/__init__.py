"""The Kubernetes API stand-in's parts; import :class:`KubeStandin` from ``knit_dev.kube_standin``."""

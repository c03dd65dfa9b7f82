"""The Kubernetes API stand-in's parts; import :class:`KubeStandin` from ``knit_provider.testing.kube_standin``."""

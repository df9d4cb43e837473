"""The two LWS reconcilers, as in pkg/controllers of kubernetes-sigs/lws v0.7.0."""

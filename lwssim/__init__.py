"""lwssim: simulate LeaderWorkerSet LLM deployments on Kubernetes GPU clusters."""

__version__ = "0.1.0"

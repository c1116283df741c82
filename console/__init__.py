"""llmctl: a terminal operations console for LLM inference on Kubernetes GPU clusters."""

__version__ = "0.1.0"

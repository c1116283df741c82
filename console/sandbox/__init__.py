"""The embedded sandbox: a simulated GPU cluster that speaks the real Kubernetes REST API."""

"""First deployments: the values file, rendered manifests, and the preflight → apply → verify engine."""

"""GPU and serving metrics from Prometheus: name discovery, PromQL builders, the adapter."""

"""Alerts from every source (cluster, Prometheus, Alertmanager, built-in rules), merged; silences."""

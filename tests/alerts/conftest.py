"""Fixtures of the alert tests: a real Prometheus with the project's rules and a real Alertmanager."""

from tests.infra_alertmanager import alert_stack

__all__ = ["alert_stack"]

"""Backends behind Protocols; no Textual import here."""

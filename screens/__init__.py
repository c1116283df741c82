"""Textual screens of llmctl."""

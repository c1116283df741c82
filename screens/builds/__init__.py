"""The Builds screen: build list and live log, layers, lint findings, push."""

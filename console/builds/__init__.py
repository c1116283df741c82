"""Image builds: Dockerfile parsing and lint, the Docker Engine adapter, build records."""

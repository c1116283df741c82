"""The incident timeline and snapshot: what happened to a namespace or a Deployment, and when."""

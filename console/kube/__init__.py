"""The Kubernetes side: kubeconfig and transport, reflectors, the watch-driven cluster store, pod logs."""

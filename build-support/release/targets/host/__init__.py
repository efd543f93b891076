"""One Docker host: the deploy session and the rolling update."""

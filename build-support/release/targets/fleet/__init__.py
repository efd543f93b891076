"""A fleet of Docker hosts (hosts.yaml): rolled batch by batch."""

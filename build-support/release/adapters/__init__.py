"""The only modules that talk to the world: git, Pants, Docker, Compose, HAProxy,
registries, ssh, webhooks, apt."""

"""A Swarm (hosts.yaml `target: swarm`): the stack, its tasks, its rolling update."""

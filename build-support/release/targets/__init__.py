"""Where a deploy goes: one Docker host, a fleet of hosts, a Swarm."""

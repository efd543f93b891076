"""The deploy engine: a pure step planner, one engine that carries the steps out
through a container platform (adapters/compose_host.py for one Compose project on one
Docker engine; fake.py for tests), and the session around a deploy."""

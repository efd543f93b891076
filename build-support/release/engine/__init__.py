"""The deploy engine: the pure steps of one service's rollout, one engine that carries
them out through a Platform, and an in-memory platform for tests."""

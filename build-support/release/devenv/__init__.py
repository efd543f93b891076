"""This machine and the local stand-ins: bootstrap, the cache server, the simulated
fleet, the suite."""

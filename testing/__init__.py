"""What the end-to-end tests and the benches share: ports, docker and ./inv commands,
the open-loop load generator, scenario repositories, simulated hosts, stand-ins."""

"""A git ref in, the affected services out: changed paths against the Pants target
graph."""

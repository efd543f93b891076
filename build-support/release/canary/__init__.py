"""Canary releases: a share of the traffic to the new version, judged on the numbers."""

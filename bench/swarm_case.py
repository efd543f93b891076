"""bench/fleet.py's case (c): the same one-line change as its rolling deploy, on a
Swarm, under the same open-loop load.

The Swarm is one node (testing/swarm.py: a dockerd in a network namespace of
its own behind a real sshd, `swarm init` there, never on this machine's engine):
multi-node Swarm works here by hand (docs/benchmarks.md, 2026-11-29) but the
bench keeps to what the tests drive. `./inv deploy --hosts-file FILE` renders the stack
and Swarm rolls recycling itself, start-first, one task at a time; load goes
through the stack's proxy, published in host mode on the node.
"""

from __future__ import annotations

import sys
import uuid


def swarm_update(args, workdir, registry_port, manifest, measured, inv_deploy) -> dict:
    from testing.swarm import SwarmNode

    name = "(c) swarm service update 1.0.0 → 1.1.0, single node"
    print("bench: a single-node Swarm ...", file=sys.stderr, flush=True)
    with SwarmNode(registry_port) as node:
        hosts = node.hosts_yaml(workdir / "swarm.yaml")
        project = f"ecotrack-swarm-bench-{uuid.uuid4().hex[:6]}"
        error = inv_deploy(workdir, project, hosts, manifest("v1"), [])
        if error:
            raise SystemExit(f"bench: the first Swarm deploy failed: {error}")
        return measured(
            args,
            name,
            lambda phases: inv_deploy(workdir, project, hosts, manifest("v2"), phases),
            node.proxy_port,
        )

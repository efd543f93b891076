"""`./inv cache`, `./inv fleet`: the shared build cache and the simulated fleet."""

from invoke import task

from release.cli import flags
from release.cli.handler import exit_with, handles_errors


@task(positional=["action"], help=flags.CACHE)
@handles_errors
def cache(
    c,
    action,
    bind="127.0.0.1",
    port=50051,
    data_dir="",
    max_refs=200000,
    json=False,
    tls_cert="",
    tls_key="",
    token_days=3.0,
):
    """Run the shared Pants remote cache (BuildGrid).

    A REAPI server: disk CAS, action cache, JWT auth (a writer token for trusted
    builds, a reader token for PRs). `status --json`: {"running", "pid",
    "address", "data_dir", "cas_bytes", "cas_blobs", "hits", "misses", "writes",
    "hit_rate", "refused_calls"}; exit 5 when stopped.

    Off loopback only with TLS (--tls-cert, --tls-key). Tokens last --token-days
    (at most 7); `rotate` makes a new secret and tokens and restarts a running
    server, so the old tokens are refused.

    Builds use it through ECOTRACK_CACHE_ADDRESS and ECOTRACK_CACHE_TOKEN_FILE
    (+ ECOTRACK_CACHE_WRITE=true, ECOTRACK_CACHE_CA_FILE with TLS):
    docs/build-cache.md.
    """
    from release.cli import cache as cache_cmd

    exit_with(
        cache_cmd.command(
            action,
            bind,
            int(port),
            data_dir,
            int(max_refs),
            json,
            tls_cert,
            tls_key,
            float(token_days),
        )
    )


@task(positional=["action"], help=flags.FLEET)
@handles_errors
def fleet(
    c,
    action,
    count=3,
    front_port=8090,
    proxy_port=8080,
    registry_port=0,
    batch_size=1,
    json=False,
):
    """A simulated fleet of Docker hosts on this machine.

    N Docker engines, each in a network namespace of its own with its own data
    root, each reached through a real sshd, and a front HAProxy on 127.0.0.1 in
    front of the hosts' proxies. `status --json`: {"running", "run",
    "hosts_file", "front_port", "proxy_port", "registry_port", "hosts": [{"name",
    "netns", "endpoint", "engine_up", "ssh_up"}], "problems"}; exit 5 with none.

    `up` installs what it needs (iproute2, openssh-server, haproxy), writes a
    hosts.yaml for `./inv deploy --hosts-file FILE` and prints what it made and how to
    reach it. The machine's docker0 and main engine are never touched. State lives in
    ~/.local/state/ecotrack/fleet, so `status` and `down` find it from any shell.
    """
    from release.cli import fleet as fleet_sim_cmd

    exit_with(
        fleet_sim_cmd.command(
            action,
            int(count),
            int(front_port),
            int(proxy_port),
            int(registry_port),
            int(batch_size),
            json,
        )
    )

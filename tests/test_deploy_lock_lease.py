"""The deploy lock as a lease with a fencing token (adapters/deploy_lock.py), on the
real Docker engine: two deployers racing for it, a container prune, a holder paused
past its lease (SIGSTOP) and one killed (kill -9). Leases are a few seconds here
(injected: `--lock-lease`, DockerHostAccess(lock_lease=...))."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest

from release.adapters import deploy_lock, docker_host
from release.base import exit_codes
from release.base.errors import LockError
from testing.commands import ROOT, remove_host_state
from testing.rollout import Stack, running

LEASE = 4.0


@pytest.fixture
def project():
    name = f"ecotrack-lease-{uuid.uuid4().hex[:8]}"
    yield name
    remove_host_state(name)


@pytest.fixture(scope="module")
def stack(state_home, tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("lease"))
    yield s
    s.down()


@pytest.fixture(autouse=True)
def free_lock(request):
    """A test that failed half-way leaves no lock for the next one."""
    yield
    if "stack" in request.fixturenames:
        s = request.getfixturevalue("stack")
        deploy_lock.force_release(s.client, s.project)


def one_error(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, text[-3000:]
    assert "Traceback" not in text
    return lines[0]


def test_two_deployers_racing_exactly_one_wins_each_round(project):
    """50 rounds: both ask at once (a barrier), each through its own client; one
    wins, the other is refused naming it, and every win is the next token."""
    rounds = 50
    clients = [docker_host.connect(None) for _ in range(2)]
    barrier = threading.Barrier(2, timeout=60)
    got: list[list] = [[None, None] for _ in range(rounds)]
    crashed: list[BaseException] = []

    def deployer(i: int) -> None:
        try:
            for r in range(rounds):
                barrier.wait()
                me = deploy_lock.mine(project, "local", f"d{i} r{r}", lease=LEASE)
                try:
                    got[r][i] = deploy_lock.acquire(clients[i], me)
                except LockError as exc:
                    got[r][i] = exc
                barrier.wait()  # both have their answer before the winner lets go
                if isinstance(got[r][i], deploy_lock.LockInfo):
                    deploy_lock.release(clients[i], got[r][i])
        except BaseException as exc:  # noqa: B036 (reported by the test)
            crashed.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=deployer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not crashed, crashed
    tokens = []
    for r, pair in enumerate(got):
        won = [x for x in pair if isinstance(x, deploy_lock.LockInfo)]
        lost = [x for x in pair if isinstance(x, LockError)]
        assert len(won) == 1 and len(lost) == 1, (r, pair)
        assert "another deploy of" in str(lost[0]) and won[0].version in str(lost[0])
        tokens.append(won[0].token)
    assert tokens == list(range(1, rounds + 1))


def test_a_container_prune_leaves_the_lock_held(project):
    client = docker_host.connect(None)
    held = deploy_lock.acquire(
        client, deploy_lock.mine(project, "local", "prune", lease=60)
    )
    # Every container the lock has (the filter keeps this test to its own lock: a
    # bare `docker container prune -f` would also take other users' stopped
    # containers on this shared engine).
    pruned = subprocess.run(
        [
            "docker",
            "container",
            "prune",
            "-f",
            "--filter",
            f"label={deploy_lock.LABEL}.project={project}",
        ],
        capture_output=True,
        text=True,
    )
    assert pruned.returncode == 0, pruned.stderr
    now = deploy_lock.status(client, project)
    assert now is not None and (now.nonce, now.token) == (held.nonce, held.token)
    deploy_lock.check(client, held)  # still the current holder
    with pytest.raises(LockError, match="another deploy of .* is running"):
        deploy_lock.acquire(client, deploy_lock.mine(project, "local", "second"))
    deploy_lock.release(client, held)
    again = deploy_lock.acquire(client, deploy_lock.mine(project, "local", "third"))
    assert again.token == held.token + 1  # counted on through release and prune
    deploy_lock.release(client, again)


# A deploy as `./inv deploy` runs it (the same session, engine and error handler),
# which waits `pause` seconds between its plan and its roll: the test stops it
# (SIGSTOP) or kills it there.
HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from invoke.exceptions import Exit
    from release.adapters.host_access import DockerHostAccess
    from release.base.layout import GITOPS
    from release.cli.handler import handles_errors
    from release.engine.results import DeployResult
    from release.model.manifest import load
    from release.targets.host.session import DeploySession, ProjectOnHost

    @handles_errors
    def main(project, manifest, port, lease, pause):
        access = DockerHostAccess(lock_lease=float(lease))
        target = ProjectOnHost.of(access, "local", project, proxy_port=int(port))
        wanted = load(Path(manifest), "local")
        with DeploySession(target, access, wanted, gitops=GITOPS) as s:
            print("planned", flush=True)
            time.sleep(float(pause))
            result = DeployResult(
                "local", target.project, target.where, s.plan, False, s.started_at
            )
            s.roll(result, 120.0, 5.0, 1)
            print("rolled", result.ok, flush=True)

    try:
        main(*sys.argv[1:])
    except Exit as exc:
        sys.exit(exc.code)
    """)


def start_holder(
    stack: Stack, manifest, lease: float, pause: float = 2.0
) -> subprocess.Popen:
    script = stack.workdir / "holder.py"
    script.write_text(HOLDER)
    path = stack.write(manifest)
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'build-support'}:{ROOT}"}
    args = [sys.executable, str(script), stack.project, str(path), str(stack.port)]
    return subprocess.Popen(
        [*args, str(lease), str(pause)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if text in line:
            return
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"never saw {text!r}: {proc.stderr.read()[-3000:]}")


def host_view(stack: Stack) -> dict:
    """Every container of the project: its state and labels, by ID."""
    found = stack.client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={stack.project}"}
    )
    return {c.id: (c.status, c.labels) for c in found}


def versions(stack: Stack, service: str) -> list[str]:
    return sorted(c.version for c in running(stack.containers(service)))


def test_a_holder_paused_past_its_lease_is_taken_over_and_then_changes_nothing(
    stack, releases
):
    v1 = releases.manifest(recycling=releases.entry("recycling", "1.0.0", replicas=1))
    v2 = releases.manifest(recycling=releases.entry("recycling", "1.1.0", replicas=1))
    stack.deploy_ok(v1)
    token = deploy_lock.state(stack.client, stack.project).token
    holder = start_holder(stack, v2, lease=3)
    try:
        wait_for_line(holder, "planned")
        os.killpg(holder.pid, signal.SIGSTOP)  # paused between its plan and roll
        assert deploy_lock.status(stack.client, stack.project).token == token + 1
        time.sleep(3 + 1.5)  # its lease runs out: nobody renews it
        second = stack.deploy(v2, "--lock-lease", str(LEASE))
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        said = second.stdout + second.stderr
        assert "taking over an expired deploy lock" in said
        assert f"(token {token + 1} → {token + 2})" in said
        assert versions(stack, "recycling") == ["1.1.0"]  # the second converged
        before = host_view(stack)
        os.killpg(holder.pid, signal.SIGCONT)
        out, err = holder.communicate(timeout=120)
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()
    assert holder.returncode == exit_codes.LOCKED, out + err
    assert "rolled" not in out
    line = one_error(err)
    assert line == (
        f"error: deploy lock lost: taken over by {deploy_lock.who()} "
        f"(token {token + 2} > {token + 1}); nothing changed by this run"
    ), err
    assert host_view(stack) == before  # no container or label touched by it
    assert versions(stack, "recycling") == ["1.1.0"]
    assert deploy_lock.status(stack.client, stack.project) is None  # released


def test_a_killed_holder_is_taken_over_once_its_lease_expires_or_at_once_forced(
    stack, releases
):
    v1 = releases.manifest(recycling=releases.entry("recycling", "1.0.0", replicas=1))
    stack.deploy_ok(v1)

    # kill -9 with a long lease: a re-run is refused until --force takes it at once
    holder = start_holder(stack, v1, lease=120)
    wait_for_line(holder, "planned")
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait()
    refused = stack.deploy(v1)
    assert refused.returncode == exit_codes.LOCKED
    assert "another deploy of" in one_error(refused.stderr)
    started = time.monotonic()
    forced = stack.deploy(v1, "--force")
    assert forced.returncode == 0, forced.stdout[-3000:] + forced.stderr[-3000:]
    assert time.monotonic() - started < 60  # not the 120 s lease
    said = forced.stdout + forced.stderr
    assert "warning: --force: taking the deploy lock" in said
    assert f"from a live holder: held by {deploy_lock.who()} (pid {holder.pid} " in said

    # kill -9 with a short lease: once it expires, a plain re-run proceeds
    holder = start_holder(stack, v1, lease=LEASE)
    wait_for_line(holder, "planned")
    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait()
    time.sleep(LEASE + 1)
    rerun = stack.deploy(v1)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    said = rerun.stdout + rerun.stderr
    assert "taking over an expired deploy lock" in said and "--force" not in said
    assert deploy_lock.status(stack.client, stack.project) is None


def test_a_live_holder_keeps_its_lease_past_it_by_its_heartbeat(stack, releases):
    v1 = releases.manifest(recycling=releases.entry("recycling", "1.0.0", replicas=1))
    stack.deploy_ok(v1)
    holder = start_holder(stack, v1, lease=3, pause=12)
    try:
        wait_for_line(holder, "planned")
        time.sleep(4)  # past one lease: only the heartbeat keeps it
        refused = stack.deploy(v1)
        assert refused.returncode == exit_codes.LOCKED, refused.stdout[-2000:]
        assert "another deploy of" in one_error(refused.stderr)
        out, err = holder.communicate(timeout=120)
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()
    assert holder.returncode == 0 and "rolled True" in out, out + err

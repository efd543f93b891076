"""HAProxy's runtime API, reached through `docker exec` into the proxy container.

The proxy discovers replicas through Docker's DNS (`server-template`), so every
replica sits in a server slot of its service's backend, found by its IP address. The
rollout uses the admin socket (/run/haproxy/admin.sock, level admin) to keep new
replicas out until they are healthy (`maint`), let them in (`ready`), stop sending new
requests to old ones (`drain`) and read their current sessions (`show stat`).

Going through `docker exec` (a few lines of the image's own python3 talking to the
socket) rather than a published admin port means it works wherever the Docker API
does, including remote hosts over ssh://, and exposes nothing on the network. On the
engine's own machine, as root, the socket is reached directly through the proxy
process's root (/proc/PID/root/run/haproxy/admin.sock): no exec, each of which is
work for dockerd, containerd and runc (about 12 per roll) that the serving replicas
feel on a small host. Any failure there falls back to exec.
Commands are built and parsed by pure functions below; `Proxy` only runs them.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Sequence

from release.base.errors import ReleaseError
from release.model.proxy import STATES, Counts, Server

ADMIN_SOCKET = "/run/haproxy/admin.sock"
_END = "@@ecotrack-end@@"

# Run inside the proxy container: one connection per command, outputs separated by
# a marker line. socat (in the proxy image) is light enough to poll with; images
# without it fall back to the image's python3. The commands are passed as arguments,
# never pasted into the script.
SOCAT_CLIENT = (
    'for c in "$@"; do printf "%s\\n" "$c" | '
    f"socat -t 10 - UNIX-CONNECT:{ADMIN_SOCKET} || exit $?; "
    f'printf "\\n{_END}\\n"; done'
)
PYTHON_CLIENT = f"""
import socket, sys
for cmd in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect({ADMIN_SOCKET!r})
    s.sendall(cmd.encode() + b"\\n")
    out = []
    while True:
        data = s.recv(65536)
        if not data:
            break
        out.append(data)
    s.close()
    sys.stdout.write(b"".join(out).decode() + "\\n{_END}\\n")
"""
NOT_FOUND = 127
SHORT_ANSWER_ATTEMPTS = 3


class ProxyError(ReleaseError):
    """The proxy's runtime API refused a command or could not be reached."""


def exec_command(commands: Sequence[str], python: bool = False) -> list[str]:
    if python:
        return ["python3", "-c", PYTHON_CLIENT, *commands]
    return ["sh", "-c", SOCAT_CLIENT, "sh", *commands]


def servers_state_command(backend: str = "") -> str:
    """One backend's servers; every backend's without a name."""
    return f"show servers state {backend}".rstrip()


def stat_command(backend: str = "") -> str:
    return f"show stat {backend or -1} 4 -1"  # type 4: servers only


def set_state_command(backend: str, server: str, state: str) -> str:
    if state not in STATES:
        raise ValueError(f"unknown server state {state!r}")
    return f"set server {backend}/{server} state {state}"


def split_outputs(text: str, count: int) -> list[str]:
    parts = text.split(f"\n{_END}\n")
    if len(parts) < count + 1:
        raise ProxyError(
            f"the proxy's admin socket answered {len(parts) - 1} of {count} commands"
        )
    return [p.strip("\n") for p in parts[:count]]


def parse_servers_state(text: str) -> list[Server]:
    """`show servers state <be>` (format version 1): one server per line."""
    servers = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 7 or line.startswith("#") or not fields[0].isdigit():
            continue
        _be_id, backend, _srv_id, name, addr, op, admin = fields[:7]
        servers.append(
            Server(
                backend=backend,
                name=name,
                addr="" if addr in ("-", "0.0.0.0") else addr,
                op_state=int(op),
                admin_state=int(admin),
            )
        )
    return servers


def stat_rows(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """`show stat` CSV → {(backend, server): {column: value}}, servers only."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        return {}
    header = lines[0][2:].split(",")
    out = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split(",")))
        if len(row) < len(header) or row["svname"] in ("FRONTEND", "BACKEND"):
            continue
        out[(row["pxname"], row["svname"])] = row
    return out


def _num(row: dict[str, str], column: str) -> int:
    return int(row.get(column) or 0)


def parse_stat(text: str) -> dict[tuple[str, str], tuple[int, str]]:
    """`show stat` CSV → {(backend, server): (current sessions, status)}."""
    return {k: (_num(r, "scur"), r["status"]) for k, r in stat_rows(text).items()}


_RESPONSES = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")


def parse_counts(text: str) -> dict[tuple[str, str], Counts]:
    """`show stat` CSV → {(backend, server): Counts}."""
    out = {}
    for key, row in stat_rows(text).items():
        econ = _num(row, "econ")
        out[key] = Counts(
            requests=sum(_num(row, c) for c in _RESPONSES) + econ,
            errors=_num(row, "hrsp_5xx") + econ + _num(row, "eresp"),
            status=row["status"],
        )
    return out


def merge(servers: Iterable[Server], stats: dict) -> list[Server]:
    return [
        Server(
            s.backend,
            s.name,
            s.addr,
            s.op_state,
            s.admin_state,
            *stats.get((s.backend, s.name), (0, "")),
        )
        for s in servers
    ]


def socket_from_here(container) -> str:
    """The proxy's admin socket as a path on this machine, when the container runs
    on this machine's engine and we may open it (root); "" otherwise."""
    pid = ((getattr(container, "attrs", None) or {}).get("State") or {}).get("Pid")
    if not pid:
        return ""
    path = f"/proc/{pid}/root{ADMIN_SOCKET}"
    return path if os.access(path, os.R_OK | os.W_OK) else ""


def ask_socket(path: str, commands: Sequence[str]) -> str:
    """Each command on a connection of its own (HAProxy answers, then closes), the
    answers separated as the exec clients separate them."""
    out = []
    for command in commands:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(path)
            s.sendall(command.encode() + b"\n")
            chunks = []
            while data := s.recv(65536):
                chunks.append(data)
        out.append(b"".join(chunks).decode(errors="replace") + f"\n{_END}\n")
    return "".join(out)


class Proxy:
    """The proxy container of one Compose project.

    Commands go straight to `socket_path` when given (see socket_from_here), else
    through the docker SDK's exec API (for ssh:// hosts through the ssh bridge's
    socket, adapters/ssh_bridge.py, which carries an exec's stream).
    """

    def __init__(self, container, socket_path: str = ""):
        self.container = container  # a docker SDK Container
        self.socket_path = socket_path
        self.python = False  # the proxy image has no socat: use its python3

    @property
    def name(self) -> str:
        return self.container.name

    def _exec(self, command: list[str]) -> tuple[int, str]:
        code, output = self.container.exec_run(
            command, stdout=True, stderr=True, demux=False
        )
        return code, (output or b"").decode(errors="replace")

    def run(self, *commands: str) -> list[str]:
        """Every command's answer. An answer cut short (the exec API now and then
        returns a stream before its end under load, docker-py issue #3332) is asked
        again: each command here (`show …`, `set server … state …`) is idempotent."""
        for attempt in range(1, SHORT_ANSWER_ATTEMPTS + 1):
            text = self._run_once(commands)
            try:
                return split_outputs(text, len(commands))
            except ProxyError:
                if attempt == SHORT_ANSWER_ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)
        raise AssertionError("unreachable")

    def _run_once(self, commands: Sequence[str]) -> str:
        if self.socket_path:
            try:
                return ask_socket(self.socket_path, commands)
            except OSError:
                self.socket_path = ""  # e.g. the proxy restarted: exec from now on
        try:
            code, text = self._exec(exec_command(commands, self.python))
            if code == NOT_FOUND and not self.python:
                self.python = True
                code, text = self._exec(exec_command(commands, self.python))
        except Exception as exc:  # docker SDK / transport errors
            raise ProxyError(
                f"cannot reach the proxy's admin socket in {self.name}: {exc}"
            ) from None
        if code != 0:
            raise ProxyError(
                f"the proxy's admin socket in {self.name} failed (exit {code}): "
                + " ".join(text.strip().splitlines()[-2:])
            )
        return text

    def servers(self, backend: str) -> list[Server]:
        state, stat = self.run(servers_state_command(backend), stat_command(backend))
        if state.startswith("Can't find backend"):
            raise ProxyError(f"the proxy has no backend '{backend}'")
        return merge(parse_servers_state(state), parse_stat(stat))

    def all_servers(self) -> dict[str, list[Server]]:
        """Every backend's servers in one exec: {backend: servers}."""
        state, stat = self.run(servers_state_command(), stat_command())
        out: dict[str, list[Server]] = {}
        for server in merge(parse_servers_state(state), parse_stat(stat)):
            out.setdefault(server.backend, []).append(server)
        return out

    def counts(self, backend: str) -> dict[str, Counts]:
        """{server name: Counts} of the backend, from `show stat`."""
        (text,) = self.run(stat_command(backend))
        return {name: c for (_, name), c in parse_counts(text).items()}

    def set_state(self, backend: str, names: Iterable[str], state: str) -> None:
        commands = [set_state_command(backend, n, state) for n in sorted(set(names))]
        if not commands:
            return
        for command, answer in zip(commands, self.run(*commands)):
            if answer.strip():
                raise ProxyError(f"proxy refused '{command}': {answer.strip()}")

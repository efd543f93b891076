"""A throwaway sshd on 127.0.0.1 and the client side that reaches it: keys, the
server's config and process, known hosts, a client config and an `ssh` wrapper.

Docker's ssh:// transport (the CLI, Compose, our ssh bridge) runs the
`ssh` first on PATH: the wrapper adds `-F <our config>`, so neither ~/.ssh nor the
system's ssh config is touched. Used by the simulated fleet and the remote-host test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from release.adapters import daemons
from release.base.errors import EngineError
from release.machine import fleet as fleet_sim

SSHD = "/usr/sbin/sshd"
SSH = "/usr/bin/ssh"


def available() -> str:
    """Why an sshd cannot run here ("" when it can)."""
    if not Path(SSHD).exists():
        return "openssh-server is not installed"
    for tool in ("ssh-keygen", "ssh"):
        if not shutil.which(tool):
            return f"no {tool}"
    return ""


def make_keys(home: Path) -> None:
    """A host key and a client key (ed25519, no passphrase), the client authorized."""
    home.mkdir(parents=True, exist_ok=True)
    for name in ("host_key", "client_key"):
        if not (home / name).exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)],
                check=True,
            )
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    os.chmod(home / "authorized_keys", 0o600)
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privsep dir


def start(config_text: str, root: Path, port: int, timeout: float = 30) -> int:
    """Starts sshd on 127.0.0.1:port with `config_text`; returns its pid once it
    answers."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "sshd_config"
    config.write_text(config_text)
    log = root / "sshd.log"
    proc = daemons.spawn(
        [SSHD, "-D", "-e", "-f", str(config), "-p", str(port)]
        + ["-o", "ListenAddress=127.0.0.1"],
        log,
    )
    try:
        daemons.wait_port(port, "sshd", log, timeout)
    except Exception:
        daemons.stop(proc.pid, str(config))
        raise
    if proc.poll() is not None:
        raise EngineError(f"sshd on port {port} exited; see {log}")
    return proc.pid


def write_client(home: Path, ports: list[int], control_dir: Path | None = None) -> Path:
    """Known hosts for `ports`, the client config and the wrapper; returns the
    wrapper's directory (put it first on PATH)."""
    control_dir = control_dir or home
    control_dir.mkdir(parents=True, exist_ok=True)
    host_pub = (home / "host_key.pub").read_text()
    (home / "known_hosts").write_text(fleet_sim.known_hosts(host_pub, ports))
    (home / "ssh_config").write_text(fleet_sim.ssh_client_config(home, control_dir))
    bin_dir = home / "bin"
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "ssh"
    wrapper.write_text(fleet_sim.ssh_wrapper(home, SSH))
    wrapper.chmod(0o755)
    return bin_dir


def close_master(home: Path, port: int) -> None:
    """Ends the ControlMaster connection to port (it would linger 60 s)."""
    wrapper = home / "bin" / "ssh"
    if wrapper.exists():
        subprocess.run(
            [str(wrapper), "-O", "exit", "-p", str(port), "127.0.0.1"],
            capture_output=True,
            timeout=20,
        )

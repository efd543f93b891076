"""A Compose project deployed with `./inv` to an environment a hosts file describes
(a fleet of hosts, or a Swarm): what the fleet and Swarm tests drive, as a user
would, one manifest file per call."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from release.model.manifest import Manifest, dumps
from testing.commands import inv


class HostsStack:
    def __init__(
        self, workdir: Path, project: str, hosts_file: Path, port: int | None = None
    ):
        self.workdir = workdir
        self.project = project
        self.hosts_file = hosts_file
        self.port = port  # the proxy's, passed to a deploy; None: as the file says

    def write(self, manifest: Manifest) -> Path:
        path = self.workdir / f"manifest-{uuid.uuid4().hex[:8]}.json"
        path.write_text(dumps(manifest))
        return path

    def args(self, task: str, manifest: Manifest, *extra: str, hosts=None) -> list:
        """`TASK --project P --hosts-file FILE --manifest M [--port N] EXTRA...`."""
        args = [task, "--project", self.project]
        args += ["--hosts-file", str(hosts or self.hosts_file)]
        args += ["--manifest", str(self.write(manifest))]
        if task == "deploy" and self.port:
            args += ["--port", str(self.port)]
        return args + list(extra)

    def run(
        self, task: str, manifest: Manifest, *extra: str, timeout=900, hosts=None
    ) -> subprocess.CompletedProcess:
        return inv(*self.args(task, manifest, *extra, hosts=hosts), timeout=timeout)

    def deploy_ok(self, manifest: Manifest, *extra: str, hosts=None):
        r = self.run("deploy", manifest, *extra, hosts=hosts)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-3000:]
        return r

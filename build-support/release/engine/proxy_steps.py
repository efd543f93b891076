"""The engine's steps that talk to the proxy (steps.py: park, let in, drain, give
slots back), through HAProxy's runtime API: new replicas are held out in
maintenance until healthy, then let in once the proxy's own checks see them UP; old
ones are drained until no request is in flight; slots of removed replicas are freed.
"""

from __future__ import annotations

from collections.abc import Sequence

from release.engine import steps as S
from release.engine.platform import ProxyAdmin
from release.engine.results import StepFailed
from release.engine.run import Run
from release.engine.wait import Probe, wait_for
from release.model.desired import Unit
from release.model.live import LiveContainer
from release.model.proxy import ADMIN_FDRAIN, Server, by_addr

SWITCH_TIMEOUT = 45.0  # new replicas UP in the proxy's own checks
FORGET_TIMEOUT = 15.0  # the proxy's DNS drops removed replicas


class ProxySteps:
    """Mixed into Engine, whose platform, step, pause and drain_timeout these use."""

    def park(self, run: Run) -> None:
        """Empty server slots go to maintenance, so new replicas get no traffic before
        the switch, whatever the proxy's DNS discovery and checks say."""
        if run.proxy is None:
            return
        backend, need = run.unit.service, run.rollout.need
        empty = [s for s in run.proxy.servers(backend) if s.empty]
        if len(empty) < need:
            raise StepFailed(
                f"the proxy has {len(empty)} free server slots in backend "
                f"{backend} for {need} new replicas (server-template in "
                "gitops/proxy/haproxy.cfg)"
            )
        run.proxy.set_state(backend, [s.name for s in empty if not s.forced], "maint")

    def let_in(self, run: Run) -> None:
        """The proxy serves the new replicas (once its own checks see them UP) and
        starts draining the retiring ones."""
        backend, proxy = run.unit.service, run.proxy
        if proxy is None:
            self.step(backend, "switch_traffic", "no proxy running: nothing to switch")
            return
        took, ips, seen = self.admit_to(
            backend, proxy, run.to_prove, settled=run.rollout.keep
        )
        servers = by_addr(seen)  # the old replicas keep their slots meanwhile
        old = [servers[c.ip].name for c in run.rollout.retiring if c.ip in servers]
        proxy.set_state(backend, old, "drain")
        self.step(
            backend,
            "switch_traffic",
            f"{len(ips)} UP in the proxy after {took:.1f}s; draining {len(old)}",
        )

    def admit_to(
        self,
        backend: str,
        proxy: ProxyAdmin,
        containers: Sequence[LiveContainer],
        settled: Sequence[LiveContainer] = (),
    ) -> tuple[float, set[str], list[Server]]:
        """Releases the held slots of `containers` (and of `settled`, which serve
        already and are not waited on: a slow one may be DOWN in the proxy's checks
        for a while) and waits until the proxy's own checks see each of
        `containers` UP; returns (seconds, their addresses, the backend's servers
        as last seen: every look is a `docker exec`, so callers reuse it)."""
        seen: list[Server] = []
        fresh = [self.platform.inspect(c.id) for c in containers]
        missing = [c.name for c, f in zip(containers, fresh) if f is None or not f.ip]
        if missing:  # never drain the old ones without knowing where the new ones are
            raise StepFailed(f"no network address for {', '.join(missing)}")
        ips = {f.ip for f in fresh if f}
        release = ips | {c.ip for c in settled if c.ip}

        def probe() -> Probe:
            seen[:] = proxy.servers(backend)
            servers = by_addr(seen)
            held = [
                servers[i].name for i in release if i in servers and servers[i].forced
            ]
            proxy.set_state(backend, held, "ready")
            up = [i for i in ips if i in servers and servers[i].up]
            return Probe(len(up) == len(ips), detail=f"{len(up)}/{len(ips)} UP")

        took = wait_for(
            f"{backend} UP in the proxy", probe, SWITCH_TIMEOUT, sleep=self.pause
        )
        return took, ips, seen

    def drain(self, run: Run) -> None:
        if run.proxy is None or not run.rollout.retiring:
            return
        message = self.drain_out(
            run.unit, run.proxy, run.rollout.retiring, self.drain_timeout
        )
        self.step(run.unit.service, S.DRAIN, message)

    def drain_out(
        self,
        unit: Unit,
        proxy: ProxyAdmin,
        containers: Sequence[LiveContainer],
        timeout: float,
    ) -> str:
        """Until no request is in flight on them (or the timeout: stopping still
        gives them the grace period); then their slots go to maintenance."""
        backend = unit.service
        ips = {c.ip for c in containers if c.ip}
        servers = by_addr(proxy.servers(backend))
        draining = [
            servers[i].name
            for i in ips
            if i in servers and not servers[i].admin_state & ADMIN_FDRAIN
        ]
        proxy.set_state(backend, draining, "drain")  # let_in has drained them already

        seen: list[Server] = list(servers.values())

        def probe() -> Probe:
            seen[:] = proxy.servers(backend)
            busy = sum(s.scur for s in seen if s.addr in ips)
            return Probe(busy == 0, detail=f"{busy} requests in flight")

        try:
            took = wait_for(
                f"{backend} drained", probe, timeout, interval=0.2, sleep=self.pause
            )
            message = f"0 requests in flight on {len(ips)} after {took:.1f}s"
        except StepFailed as exc:
            message = f"{exc}; stopping anyway (grace {unit.stop_grace:.0f}s)"
        servers = by_addr(seen)  # the last look: they keep their slots meanwhile
        proxy.set_state(
            backend, [servers[i].name for i in ips if i in servers], "maint"
        )
        return message

    def release_slots(self, run: Run) -> None:
        self.give_back_slots(run.unit.service, run.proxy, run.rollout.retiring)

    def give_back_slots(
        self,
        backend: str,
        proxy: ProxyAdmin | None,
        gone: Sequence[LiveContainer],
        keep_held: Sequence[LiveContainer] = (),
    ) -> None:
        """Once the proxy has forgotten the removed replicas, every slot we held goes
        back to `ready` (except those of `keep_held`), so later ones are not kept out.
        """
        if proxy is None:
            return
        gone_ips = {c.ip for c in gone if c.ip}
        held_ips = {c.ip for c in keep_held if c.ip}

        seen: list[Server] = []

        def probe() -> Probe:
            seen[:] = proxy.servers(backend)
            left = [s for s in seen if s.addr in gone_ips]
            return Probe(not left, detail=f"{len(left)} removed replicas still known")

        try:
            wait_for(
                f"{backend} forgets removed replicas",
                probe,
                FORGET_TIMEOUT,
                sleep=self.pause,
            )
        except StepFailed:
            pass  # those slots stay in maintenance; the next deploy releases them
        proxy.set_state(
            backend,
            [
                s.name
                for s in seen  # the last look
                if s.forced and s.addr not in gone_ips and s.addr not in held_ips
            ],
            "ready",
        )

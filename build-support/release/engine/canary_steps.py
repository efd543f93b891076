"""The engine's canary steps (steps.py: CANARY): let the new replicas in beside the
old ones, judge them (the gate the canary passes in), or withdraw them."""

from __future__ import annotations

from release.base.errors import ReleaseError
from release.engine import steps as S
from release.engine.results import StepFailed
from release.engine.run import Run
from release.model.desired import Unit

CANARY_DRAIN_TIMEOUT = 15.0


class CanarySteps:
    """Mixed into Engine, whose platform, step, admit_to, drain_out and abort these
    use."""

    def admit(self, run: Run) -> None:
        if run.proxy is None:
            raise StepFailed("a canary needs the proxy running: deploy it first")
        took, _, _ = self.admit_to(run.unit.service, run.proxy, run.serving)
        self.step(run.unit.service, "canary", f"{len(run.serving)} UP in {took:.1f}s")

    def judge(self, run: Run) -> None:
        if run.gate is not None:
            run.gate(run)

    def withdraw(self, run: Run) -> None:
        """No new requests to the canaries, in-flight ones finish, before abort."""
        if run.proxy is None:
            return
        try:
            self.drain_out(run.unit, run.proxy, run.serving, CANARY_DRAIN_TIMEOUT)
        except ReleaseError as exc:
            self.step(run.unit.service, S.ABORT, f"proxy not drained: {exc}")

    def take_back(self, unit: Unit, config_hash: str, rollout: S.Rollout) -> None:
        """Drains and removes what was started since `rollout` was planned (a canary
        whose promotion failed): the service is as it was before."""
        run = Run(unit, config_hash, rollout, self.proxy_admin())
        initial = rollout.initial_ids
        run.new = [
            c for c in self.platform.containers(unit.service) if c.id not in initial
        ]
        self.withdraw(run)
        self.abort(run)

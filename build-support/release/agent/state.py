"""The reconcile agent's memory on disk, and the decisions it makes from it.

State (`<state dir>/agent/<project>/state.json`, written atomically after every
change) says which commit the host last synced to, which commit was last attempted
and whether that failed, and the last deploy of each service; it survives restarts,
so a commit that failed before a restart is still not retried after it.

`decide` is pure: the state, the branch head, the services that commit changes, and
what the host looks like (a drift report) in; one action out. The rules are Argo
CD's automated sync:

  * a new desired state (a commit whose manifest or Compose files differ from the
    last synced ones) is deployed once: if it fails it is not retried until a new
    commit changes the desired state again, or the host is brought in sync by hand
    (`./inv deploy`), which the agent notices and records;
  * with self-heal, drift on a synced commit is repaired, once per distinct drift
    (a repair that fails is not retried until the drift changes); services whose
    deploy failed are left alone;
  * a deploy interrupted by the agent's own death (in_progress left on disk) is
    retried after a restart: the rollout engine converges from any point.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from release.base.atomic import write_atomic
from release.base.errors import ConfigError
from release.model.desired import merged_services
from release.model.manifest import Manifest

VERSION = 1
HISTORY = 50  # attempts kept


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class Attempt:
    commit: str
    trigger: str  # commit | self-heal | first-sync
    services: list[str]
    started_at: str
    finished_at: str = ""
    result: str = "in_progress"  # ok | failed | interrupted | in_progress
    reason: str = ""
    duration_s: float = 0.0
    desired_key: str = ""  # what was deployed: hash of manifest + Compose files


@dataclass
class ServiceDeploy:
    commit: str
    at: str
    result: str
    version: str = ""
    digest: str = ""
    trigger: str = ""


@dataclass
class AgentState:
    env: str
    project: str
    repo: str = ""
    branch: str = "main"
    head: str = ""  # the branch's last fetched commit
    synced_commit: str = ""  # the host runs this commit's desired state
    synced_key: str = ""
    attempted_commit: str = ""
    attempted_key: str = ""
    failed_commit: str = ""  # == attempted_commit when that attempt failed
    failed_services: list[str] = field(default_factory=list)
    in_progress: Attempt | None = None
    drift_fingerprint: str = ""  # last drift announced
    heal_failed_fingerprint: str = ""  # a failed repair of exactly this drift
    attempts: list[Attempt] = field(default_factory=list)
    services: dict[str, ServiceDeploy] = field(default_factory=dict)
    version: int = VERSION

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "state") -> "AgentState":
        try:
            d = dict(copy.deepcopy(data))
            if d.get("version") != VERSION:
                raise ConfigError(
                    f"{source}: agent state version {d.get('version')!r}, "
                    f"expected {VERSION}"
                )
            d["in_progress"] = (
                Attempt(**d["in_progress"]) if d.get("in_progress") else None
            )
            d["attempts"] = [Attempt(**a) for a in d.get("attempts", [])]
            d["services"] = {
                k: ServiceDeploy(**v) for k, v in (d.get("services") or {}).items()
            }
            return cls(**d)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ConfigError(f"{source}: not an agent state file ({exc})") from None

    # -- transitions (the agent calls these, then saves) ----------------------------

    def begin(self, attempt: Attempt) -> None:
        self.in_progress = attempt

    def finish(
        self,
        attempt: Attempt,
        result: str,
        reason: str = "",
        failed_services: Sequence[str] = (),
        versions: Mapping[str, tuple[str, str]] | None = None,
        drift_fingerprint: str = "",
    ) -> None:
        """Records the end of an attempt. `versions`: {service: (version, digest)}
        of what each deployed service now runs."""
        attempt.result = result
        attempt.reason = reason
        attempt.finished_at = now()
        self.in_progress = None
        self.attempts = (self.attempts + [attempt])[-HISTORY:]
        if result == "interrupted":
            return  # neither attempted nor synced: the next run tries again
        if attempt.trigger == "self-heal":
            self.heal_failed_fingerprint = drift_fingerprint if result != "ok" else ""
        else:
            self.attempted_commit = attempt.commit
            self.attempted_key = attempt.desired_key
        if result == "ok":
            self.synced_commit = attempt.commit
            self.synced_key = attempt.desired_key
            if attempt.trigger != "self-heal":
                self.failed_commit = ""
                self.failed_services = []
            self.drift_fingerprint = ""
        elif attempt.trigger != "self-heal":
            self.failed_commit = attempt.commit
            self.failed_services = sorted(set(failed_services or attempt.services))
        for service in attempt.services:
            version, digest = (versions or {}).get(service, ("", ""))
            self.services[service] = ServiceDeploy(
                attempt.commit,
                attempt.finished_at,
                "ok" if service not in failed_services and result == "ok" else result,
                version,
                digest,
                attempt.trigger,
            )

    def mark_synced(self, commit: str, key: str) -> None:
        """The host runs `commit`'s desired state without a deploy of ours (nothing
        to deploy, or fixed by hand)."""
        self.synced_commit = commit
        self.synced_key = key
        if self.failed_commit:
            self.failed_commit = ""
            self.failed_services = []
        self.attempted_commit = commit
        self.attempted_key = key


# -- on disk ---------------------------------------------------------------------------


def state_path(state_dir: Path) -> Path:
    return state_dir / "state.json"


def load(state_dir: Path, env: str, project: str) -> AgentState:
    path = state_path(state_dir)
    if not path.exists():
        return AgentState(env=env, project=project)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot read the agent's state ({exc}); move it away to start "
            "over (the agent then redeploys the branch head once)"
        ) from None
    state = AgentState.from_dict(data, str(path))
    if (state.env, state.project) != (env, project):
        raise ConfigError(
            f"{path}: state of {state.env}/{state.project}, not {env}/{project}"
        )
    return state


def save(state_dir: Path, state: AgentState) -> None:
    text = json.dumps(state.to_dict(), indent=2, sort_keys=True) + "\n"
    write_atomic(state_path(state_dir), text)


# -- what changed between two desired states (pure) ------------------------------------


def changed_services(
    old: Manifest | None,
    new: Manifest,
    old_compose: Sequence[Mapping] | None,
    new_compose: Sequence[Mapping],
) -> list[str]:
    """Manifest entries and Compose services whose desired state differs. Without an
    old side (first sync, unknown base) everything the manifest names."""
    if old is None or old_compose is None:
        return sorted(new.services)
    names = set()
    for name in set(old.services) | set(new.services):
        a, b = old.services.get(name), new.services.get(name)
        if a is None or b is None:
            names.add(name)
            continue
        da, db = asdict(a), asdict(b)
        for k in ("deployed_at", "deployed_by"):  # describe a release, change nothing
            da.pop(k)
            db.pop(k)
        if da != db:
            names.add(name)
    before, after = merged_services(old_compose), merged_services(new_compose)
    for name in set(before) | set(after):
        if before.get(name) != after.get(name):
            names.add(name)
    return sorted(names)


# -- the decision (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    action: str  # deploy | heal | adopt | wait | none
    services: tuple[str, ...] = ()
    reason: str = ""
    trigger: str = ""  # for deploy/heal: commit | first-sync | self-heal


def decide(
    state: AgentState,
    head: str,
    desired_key: str,
    changed: Sequence[str] | None,
    drift_services: Sequence[str],
    repairable: Sequence[str],
    drift_fingerprint: str,
    self_heal: bool,
) -> Decision:
    """One tick's action.

    head, desired_key: the branch head and the hash of its manifest + Compose files.
    changed: services whose desired state differs from the last synced commit's
        (None: no synced commit to compare with).
    drift_services: services out of sync now; repairable: those a redeploy fixes.
    """
    new_state = desired_key not in (state.synced_key, state.attempted_key)
    if head and new_state:
        if changed is None:
            return Decision(
                "deploy", (), "first sync: the whole manifest", "first-sync"
            )
        if changed:
            return Decision(
                "deploy",
                tuple(changed),
                f"{head[:12]} changes {', '.join(changed)}",
                "commit",
            )
        return Decision("adopt", (), f"{head[:12]} changes no service")
    if state.failed_commit and desired_key == state.attempted_key:
        failed = set(state.failed_services)
        if not failed & set(drift_services):
            return Decision(
                "adopt", (), "the failed services are in sync now (deployed by hand)"
            )
        heal = sorted(set(repairable) - failed) if self_heal else []
        if heal and drift_fingerprint != state.heal_failed_fingerprint:
            return Decision(
                "heal",
                tuple(heal),
                "repairing drift beside the failed services",
                "self-heal",
            )
        return Decision(
            "wait",
            (),
            f"{state.failed_commit[:12]} failed for {', '.join(sorted(failed))}: "
            "waiting for a new commit or a manual ./inv deploy",
        )
    if desired_key == state.synced_key and state.attempted_key != desired_key:
        # the branch went back to what the host runs (the failed change reverted)
        return Decision("adopt", (), f"{head[:12]} is the synced desired state")
    if self_heal and repairable:
        if drift_fingerprint == state.heal_failed_fingerprint:
            return Decision(
                "wait", (), "the last repair of this drift failed: not retrying"
            )
        return Decision(
            "heal", tuple(sorted(repairable)), "repairing drift", "self-heal"
        )
    return Decision("none", (), "in sync" if not drift_services else "drifted")

"""`./inv publish`: the services that changed → images built with Pants → pushed under
an immutable tag → digest read back from the registry → recorded in the environment's
manifest as one commit (local: written, not committed). With `--release-out DIR` the
last step writes a release record per service into DIR instead, for one later
`./inv record` to apply (CI: one job per service, one commit for them all).

Steps: select → build → push → record. Unchanged services are neither built nor
pushed. Which services changed: `--service` names them, `--since REF` asks the affected
module, and by default each service is compared with the commit its manifest entry
records (services the manifest does not have yet are always published). The record
step is publish/record.py; the answer is shown by cli/publish_render.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from release.adapters import manifest_git
from release.base import console
from release.base.errors import UsageError
from release.base.layout import (
    DEFAULT_ENV,
    PROXY,
    PROXY_TARGET,
    ROOT,
    Service,
    check_env,
    image_repository,
    released_images,
)
from release.gitops import store as manifest_store
from release.images.build import BuildInfo, build_images
from release.images.registry import open_registry
from release.model import releases
from release.model.manifest import Manifest
from release.model.registry import DEFAULT_KIND, Registry, check_kind, short
from release.publish.progress import Board
from release.publish.record import commit_manifest, write_records


@dataclass(frozen=True)
class PublishRequest:
    env: str = DEFAULT_ENV
    registry: str = DEFAULT_KIND
    services: tuple[str, ...] = ()
    since: str | None = None
    # Another file for the (uncommitted) local manifest: test stacks keep their own.
    manifest: Path | None = None
    release_out: Path | None = None  # write release records here, not the manifest


@dataclass
class Tools:
    """What publish talks to; tests replace the builder and the clock."""

    registry: Registry
    build: Callable[[list[Service], BuildInfo], dict[str, str]]
    affected: Callable[[str, Path], list[str]]
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)


@dataclass(frozen=True)
class Published:
    service: str
    version: str
    tag: str
    image: str
    digest: str
    pushed: bool  # False when the registry already held this image under the tag
    previous_version: str | None
    previous_digest: str | None
    push_seconds: float


@dataclass(frozen=True)
class PublishResult:
    env: str
    registry: str
    selection: str
    tag: str = ""
    published: tuple[Published, ...] = ()
    unchanged: tuple[str, ...] = ()
    manifest: str = ""
    commit: str | None = None
    records: tuple[str, ...] = ()  # release records written (--release-out)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self) | {
            "built": [p.service for p in self.published],
            "pushed": [p.service for p in self.published if p.pushed],
        }


# -- the edges publish calls ---------------------------------------------------------


def affected_services(since: str, root: Path) -> list[str]:
    """The services whose image changed since `since`: the one call into the affected
    module of `./inv affected` (release.change.report)."""
    from release.change.report import report

    result = report(since, root=root).result
    proxy = [PROXY] if PROXY_TARGET in result.other_images else []
    return list(result.include) + proxy


def build_with_pants(selected: list[Service], info: BuildInfo) -> dict[str, str]:
    services_only = [s for s in selected if s.name != PROXY]
    with_proxy = len(services_only) < len(selected)
    return build_images(services_only, include_proxy=with_proxy, info=info, quiet=True)


def default_tools(kind: str) -> Tools:
    return Tools(
        registry=open_registry(kind), build=build_with_pants, affected=affected_services
    )


def service_version(name: str, root: Path = ROOT) -> str:
    path = root / "services" / name / f"{name}_service" / "version.py"
    try:
        text = path.read_text()
    except OSError:
        text = ""
    return releases.read_version(text, manifest_git.relative(root, path))


# -- selection -----------------------------------------------------------------------


def changed_since_manifest(
    manifest: Manifest,
    known: list[str],
    head: str,
    dirty: bool,
    affected: Callable[[str], list[str]],
) -> list[str]:
    """Services missing from the manifest, plus those changed since the commit their
    entry records (one affected query per distinct commit; none when it is HEAD and
    the tree is clean)."""
    chosen = {n for n in known if n not in manifest.services}
    by_sha: dict[str, set[str]] = {}
    for name in known:
        entry = manifest.services.get(name)
        if entry is not None:
            by_sha.setdefault(entry.git_sha, set()).add(name)
    for sha, names in sorted(by_sha.items()):
        if head.startswith(sha) and not dirty:
            continue
        chosen |= names & set(affected(sha))
    return sorted(chosen)


def select(
    request: PublishRequest,
    manifest: Manifest,
    head: str,
    dirty: bool,
    root: Path,
    tools: Tools,
) -> tuple[list[str], str]:
    if request.since and request.services:
        raise UsageError("give --since or --service, not both")
    known = released_images(root)
    if request.services:
        unknown = sorted(set(request.services) - set(known))
        if unknown:
            raise UsageError(
                f"unknown service {', '.join(unknown)} (known: {', '.join(known)})"
            )
        return sorted(set(request.services)), "named with --service"
    if request.since:
        names = sorted(set(tools.affected(request.since, root)) & set(known))
        return names, f"affected since {request.since}"
    names = changed_since_manifest(
        manifest, known, head, dirty, lambda sha: tools.affected(sha, root)
    )
    return names, f"changed since the {request.env} manifest"


# -- publish -------------------------------------------------------------------------


def publish(
    request: PublishRequest,
    root: Path = ROOT,
    tools: Tools | None = None,
    progress_to_stderr: bool = False,
) -> PublishResult:
    """select → build → push → record; with progress_to_stderr (--json) stdout is
    left for the result alone."""
    with console.humans_on_stderr(progress_to_stderr):
        return _publish(request, root, tools, progress_to_stderr)


@dataclass(frozen=True)
class PublishPlan:
    """What this publish will do, settled before anything is built."""

    env: str
    names: list[str]
    selection: str
    tag: str
    head: str
    versions: dict[str, str]
    current: Manifest
    now: datetime
    manifest: Path | None = None


def _publish(
    request: PublishRequest, root: Path, tools: Tools | None, progress_to_stderr: bool
) -> PublishResult:
    started = time.monotonic()
    current = _check(request, root)
    tools = tools or default_tools(request.registry)
    plan = _plan(request, current, root, tools)
    if not plan.names:
        return PublishResult(
            env=plan.env,
            registry=request.registry,
            selection=plan.selection,
            unchanged=tuple(released_images(root)),
        )
    timings = {"select": time.monotonic() - started}
    registry = tools.registry
    registry.ensure_running()
    registry.login()
    title = f"publish to {plan.env} ({plan.tag})"
    with Board(title, plan.names, progress_to_stderr) as board:
        t = time.monotonic()
        local = _build(plan, tools, board)
        timings["build"], t = time.monotonic() - t, time.monotonic()
        published, updated = _push_all(plan, registry, local, board, root)
        timings["push"], t = time.monotonic() - t, time.monotonic()
        if request.release_out is None:
            commit = commit_manifest(plan, published, updated, board, root)
            written: list[Path] = []
        else:
            commit = None
            written = write_records(plan, published, request.release_out, board, root)
        timings["record"] = time.monotonic() - t
    timings["total"] = time.monotonic() - started
    known = set(released_images(root))
    return PublishResult(
        env=plan.env,
        registry=request.registry,
        selection=plan.selection,
        tag=plan.tag,
        published=tuple(published),
        unchanged=tuple(sorted(known - set(plan.names))),
        manifest=_shown(
            request.manifest or manifest_store.manifest_path(plan.env, root), root
        ),
        commit=commit,
        records=tuple(str(p) for p in written),
        seconds={k: round(v, 2) for k, v in timings.items()},
    )


def _check(request: PublishRequest, root: Path) -> Manifest:
    """Everything that can be refused before a build: names, manifest, git state.
    Returns the environment's manifest as it is."""
    check_env(request.env)
    check_kind(request.registry)
    if request.manifest and manifest_store.is_committed(request.env):
        raise UsageError(f"the {request.env} manifest is kept in git: no other file")
    current = manifest_store.read(request.env, root, request.manifest)
    if request.release_out is None:  # records are committed later, by `./inv record`
        manifest_store.check_can_record(request.env, root)
    local_only = request.env == DEFAULT_ENV and request.registry == DEFAULT_KIND
    if not local_only and manifest_git.is_dirty(root):
        raise UsageError(
            f"uncommitted changes to tracked files: commit them before publishing to "
            f"{request.env} on {request.registry} (only local publishes may be dirty)"
        )
    return current


def _plan(
    request: PublishRequest, current: Manifest, root: Path, tools: Tools
) -> PublishPlan:
    head, dirty = manifest_git.head(root), manifest_git.is_dirty(root)
    names, selection = select(request, current, head, dirty, root, tools)
    versions = {
        n: f"git-{head[:7]}" if n == PROXY else service_version(n, root) for n in names
    }
    now = tools.now()
    fingerprint = manifest_git.dirty_fingerprint(root) if dirty and names else ""
    tag = (
        releases.image_tag(manifest_git.branch(root), head, fingerprint)
        if names
        else ""
    )
    return PublishPlan(
        request.env,
        names,
        selection,
        tag,
        head,
        versions,
        current,
        now,
        request.manifest,
    )


def _build(plan: PublishPlan, tools: Tools, board: Board) -> dict[str, str]:
    board.set_all(plan.names, "build", f"Pants, tag {plan.tag}")
    try:
        return tools.build(
            [Service(n) for n in plan.names], BuildInfo(plan.head, plan.tag)
        )
    except BaseException:
        board.set_all(plan.names, "failed", "build failed")
        raise


def _push_all(
    plan: PublishPlan,
    registry: Registry,
    local: dict[str, str],
    board: Board,
    root: Path,
) -> tuple[list[Published], Manifest]:
    """Pushes each image, reads its digest back, and puts it in the manifest (an
    entry that already names this very image is left as it is)."""
    published: list[Published] = []
    updated = plan.current
    actor = manifest_git.actor(root)
    for name in plan.names:
        repository = image_repository(name)
        board.set(name, "push", f"{registry.address}/{repository}:{plan.tag}")
        started = time.monotonic()
        try:
            already = registry.digest_of(repository, plan.tag)
            digest = registry.push(local[name], repository, plan.tag)
        except BaseException:
            board.set(name, "failed", "push failed")
            raise
        board.set(name, "record", short(digest))
        before = plan.current.services.get(name)
        image = f"{registry.address}/{repository}:{plan.tag}@{digest}"
        if before is None or before.image != image:
            entry = releases.new_entry(
                before,
                image=image,
                version=plan.versions[name],
                git_sha=plan.head,
                now=plan.now,
                actor=actor,
                default_replicas=manifest_store.default_replicas(plan.env, name, root),
            )
            updated = updated.with_service(name, entry)
        published.append(
            Published(
                service=name,
                version=plan.versions[name],
                tag=plan.tag,
                image=image,
                digest=digest,
                pushed=already is None,
                previous_version=before.version if before else None,
                previous_digest=before.image_ref.digest if before else None,
                push_seconds=round(time.monotonic() - started, 2),
            )
        )
    return published, updated


def _shown(path: Path, root: Path) -> str:
    try:
        return manifest_git.relative(root, path)
    except ValueError:
        return str(path)

"""`./inv doctor`: the bootstrap's probe as a table, changing nothing.

Exit 0 only when this machine is ready for the profile (default: everything `./inv
test` needs); otherwise 1, after one row per need saying what `./inv up`/`./inv test`
will do about it, or what to do by hand. `--json`: the same, as one document.
"""

from __future__ import annotations

from dataclasses import asdict

from release.adapters import machine
from release.base import console, exit_codes
from release.base.errors import UsageError
from release.machine import bootstrap


def report(profile: str) -> bootstrap.Plan:
    if profile not in bootstrap.PROFILES:
        raise UsageError(
            f"unknown profile '{profile}' (known: {', '.join(bootstrap.PROFILES)})"
        )
    needs = bootstrap.PROFILES[profile]
    return bootstrap.plan(machine.probe(needs), needs)


def to_dict(profile: str, p: bootstrap.Plan) -> dict:
    """`./inv doctor --json`: the table's rows, and what would happen about them."""
    return {
        "profile": profile,
        "ready": p.ready,
        "checks": [asdict(r) for r in p.rows],
        "will_do": [line for _, line in bootstrap.steps(p)],
        "problems": list(p.problems),
    }


def render(profile: str, p: bootstrap.Plan, as_json: bool = False) -> int:
    code = exit_codes.OK if p.ready else exit_codes.FAILURE
    if as_json:
        console.json_result(to_dict(profile, p))
        return code
    console.table(
        f"what `{profile}` needs on this machine",
        ["need", "state", "detail"],
        [[r.need, r.state, r.detail] for r in p.rows],
    )
    if p.ready:
        console.info("ready")
        return code
    for _, line in bootstrap.steps(p):
        console.info(
            f"./inv {profile if profile in ('up', 'test') else 'up'} will: {line}"
        )
    for problem in p.problems:
        console.error(problem)
    return code

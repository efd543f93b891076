"""An unhealthy replica is asked once per deploy whether it still answers
(docker_host.with_answers): each ask can take seconds on a busy host."""

from __future__ import annotations

from release.adapters import docker_host
from release.model.live import LiveContainer


def box(cid: str, health: str) -> LiveContainer:
    return LiveContainer(cid * 64, f"p-x-{cid}", "x", 1, "running", health, "", "")


class Engine:
    """Answers the health check exec with exit 0; counts the asks."""

    def __init__(self):
        self.asked: list[str] = []
        self.api = self

    def inspect_container(self, cid):
        return {"Config": {"Healthcheck": {"Test": ["CMD", "true"], "Timeout": 10**9}}}

    def exec_create(self, cid, command):
        self.asked.append(cid)
        return {"Id": "e"}

    def exec_start(self, exec_id):
        return b""

    def exec_inspect(self, exec_id):
        return {"ExitCode": 0}


def test_only_the_unhealthy_are_asked_and_only_once_per_deploy():
    engine, known = Engine(), {}
    found = (box("a", "healthy"), box("b", "unhealthy"))
    first = docker_host.with_answers(engine, found, known)
    assert [c.answers for c in first] == [None, True]
    assert engine.asked == ["b" * 64] and known == {"b" * 64: True}
    again = docker_host.with_answers(engine, found, known)
    assert [c.answers for c in again] == [None, True]
    assert engine.asked == ["b" * 64]  # the verdict held: not asked again

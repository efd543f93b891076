"""The random changes of bench/affected.py's held-out scenarios (their truth is
bench/heldout.py's): from a seed, 1-3 edits each to shared modules, service modules,
tests, resources, lockfile entries, BUILD files, Compose blocks, docs and global
inputs, with deletions, renames and new modules."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass

from bench.heldout import COMPOSE, LOCK, SERVICES, Tree, lock_projects, norm

KINDS = (
    "shared module",
    "service module",
    "service test",
    "shared test",
    "resource",
    "lockfile entry",
    "BUILD file",
    "deletion",
    "rename",
    "new module",
    "compose block",
    "docs",
    "global input",
)
WEIGHTS = (14, 14, 10, 5, 4, 10, 8, 9, 9, 6, 6, 3, 2)


@dataclass
class Edit:
    kind: str
    path: str
    apply: Callable  # (repo) -> None
    also: str = ""  # second path touched (rename target)


def _py(tree: Tree, pattern: str) -> list[str]:
    return [p for p in tree.glob(pattern) if p.endswith(".py")]


def random_edit(rng: random.Random, tree: Tree, n: int) -> Edit:
    kind = rng.choices(KINDS, WEIGHTS)[0]
    line = f"\n_BENCH_{n} = {n}  # held-out scenario\n"
    if kind == "shared module":
        p = rng.choice([x for x in _py(tree, "shared/**/*.py") if "/tests/" not in x])
        return Edit(kind, p, lambda r: r.append(p, line))
    if kind == "service module":
        p = rng.choice(_py(tree, "services/*/*_service/**/*.py"))
        return Edit(kind, p, lambda r: r.append(p, line))
    if kind == "service test":
        p = rng.choice(_py(tree, "services/*/tests/**/*.py"))
        return Edit(kind, p, lambda r: r.append(p, line))
    if kind == "shared test":
        p = rng.choice(_py(tree, "shared/*/tests/**/*.py"))
        return Edit(kind, p, lambda r: r.append(p, line))
    if kind == "resource":
        p = rng.choice(tree.glob("services/*/*_service/data/*.json"))

        def resource(r, p=p):
            data = json.loads(r.file(p).read_text())
            r.write(p, json.dumps(data, indent=1) + "\n")

        return Edit(kind, p, resource)
    if kind == "lockfile entry":
        projects = sorted(lock_projects(tree.read(LOCK)))
        target = rng.choice(projects)

        def lock(r, target=target):
            def edit(data):
                for e in data["locked_resolves"][0]["locked_requirements"]:
                    if norm(e["project_name"]) == target:
                        e["version"] = e["version"] + ".post1"

            r.edit_lock(LOCK, edit)

        return Edit(f"{kind} ({target})", LOCK, lock)
    if kind == "BUILD file":
        p = rng.choice(tree.glob("services/*/BUILD") + tree.glob("shared/*/BUILD"))
        return Edit(kind, p, lambda r: r.append(p, f"\n# held-out scenario {n}\n"))
    if kind == "deletion":
        p = rng.choice(
            [
                x
                for x in _py(tree, "shared/**/*.py") + _py(tree, "services/**/*.py")
                if not x.endswith("__init__.py")
            ]
        )
        return Edit(kind, p, lambda r: r.delete(p))
    if kind == "rename":
        p = rng.choice(
            [
                x
                for x in _py(tree, "shared/**/*.py") + _py(tree, "services/**/*.py")
                if not x.endswith("__init__.py")
            ]
        )
        stem = p.rsplit("/", 1)
        new = f"{stem[0]}/renamed_{n}_{stem[1]}"
        if "/tests/" in p:
            new = f"{stem[0]}/test_renamed_{n}.py"
        return Edit(kind, p, lambda r: r.move(p, new), also=new)
    if kind == "new module":
        pkg = rng.choice(tree.glob("services/*/*_service") + tree.glob("shared/common"))
        p = f"{pkg}/bench_new_{n}.py"
        return Edit(kind, p, lambda r: r.write(p, f"VALUE = {n}\n"))
    if kind == "compose block":
        name = rng.choice([*SERVICES, "waste-worker"])

        def compose(r, name=name):
            text = r.file(COMPOSE).read_text()
            head = f"  {name}:\n"
            assert head in text, name
            r.write(
                COMPOSE,
                text.replace(head, head + f'    labels: {{bench: "{n}"}}\n', 1),
            )

        return Edit(f"{kind} ({name})", COMPOSE, compose)
    if kind == "docs":
        return Edit(kind, "README.md", lambda r: r.append("README.md", f"\n{n}\n"))
    p = rng.choice(["pants.toml", "build-support/macros.py"])
    return Edit(kind, p, lambda r: r.append(p, f"\n# held-out scenario {n}\n"))


def scenarios(seed: int, count: int, tree: Tree) -> list[list[Edit]]:
    """`count` changes of 1-3 random edits each; never two edits of one path."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        edits: list[Edit] = []
        for k in range(rng.choice((1, 1, 1, 2, 2, 3))):
            e = random_edit(rng, tree, i * 10 + k)
            touched = {x.path for x in edits} | {x.also for x in edits}
            if e.path not in touched and e.also not in touched:
                edits.append(e)
        out.append(edits)
    return out

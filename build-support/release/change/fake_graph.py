"""A small Pants graph shaped like the repository's (three services, shared code,
a lockfile, the proxy image), for the tests of the affected rules: `run(*paths)` is
`./inv affected` on it, with no Pants and no git."""

from __future__ import annotations

from release.change import affected
from release.change.affected import Change, Inputs
from release.model.target_graph import Graph

LOCK = "3rdparty/python/default.lock"
LOCK_T = f"{LOCK}:_python-default_lockfile"
REQS = "3rdparty/python/requirements.txt"
REQS_T = f"{REQS}:reqs"
SERVICES = ("auth", "locations", "waste")


def T(address, type_, sources=(), deps=(), requirements=()):
    return {
        "address": address,
        "type": type_,
        "sources": list(sources),
        "dependencies": list(deps),
        "requirements": list(requirements),
    }


def req(name, spec):
    return T(
        f"3rdparty/python:reqs#{name}",
        "python_requirement",
        (),
        [LOCK_T, REQS_T],
        [spec],
    )


def shared(path, deps=()):
    return T(path, "python_source", [path], deps)


def service(name, imports, extra=()):
    """A service as build-support/macros.py declares it: lib files, two pexes, image."""
    d = f"services/{name}"
    main = f"{d}/{name}_service/main.py"
    lib = f"{main}:../lib"
    targets = [
        T(lib, "python_source", [main], list(imports) + list(extra)),
        T(f"{d}:lib", "python_sources", [main], [lib]),
        T(f"{d}:deps", "pex_binary", (), [lib]),
        T(f"{d}:srcs", "pex_binary", (), [lib]),
        T(
            f"{d}:image",
            "docker_image",
            [f"{d}/Dockerfile"],
            [f"{d}:deps", f"{d}:srcs"],
        ),
    ]
    test = f"{d}/tests/test_{name}.py"
    targets += [
        T(
            f"{test}:../tests",
            "python_test",
            [test],
            [lib, "3rdparty/python:reqs#pytest"],
        ),
        T(f"{d}:tests", "python_tests", [test], [f"{test}:../tests"]),
    ]
    return targets


def repo_graph(extra=()):
    jwt = "shared/common/jwt_tokens.py"
    http = "shared/common/http.py"
    targets = [
        T(LOCK_T, "_lockfile", [LOCK]),
        T(REQS_T, "_generator_sources_helper", [REQS]),
        req("pyjwt", "PyJWT==2.8.0"),
        req("fastapi", "fastapi==0.110.0"),
        req("prometheus-client", "prometheus-client==0.20.0"),
        req("leftpad", "leftpad==1.0"),
        req("pytest", "pytest==8.0"),
        shared(
            http,
            ["3rdparty/python:reqs#fastapi", "3rdparty/python:reqs#prometheus-client"],
        ),
        shared(jwt, ["3rdparty/python:reqs#pyjwt"]),
        shared("shared/core/geo.py"),
        shared("shared/core/categories.py"),
        T("shared/common:common", "python_sources", [http, jwt], [http, jwt]),
        T("//pants.toml:pants-config", "file", ["pants.toml"]),
        T("//tasks.py:tasks", "python_source", ["tasks.py"]),
        T("gitops/proxy/haproxy.cfg:config", "file", ["gitops/proxy/haproxy.cfg"]),
        T(
            "gitops/proxy:image",
            "docker_image",
            ["gitops/proxy/Dockerfile"],
            ["gitops/proxy/haproxy.cfg:config"],
        ),
        T(
            "services/locations:points",
            "resource",
            ["services/locations/data/points.json"],
        ),
    ]
    targets += service("auth", [http, jwt])
    targets += service("waste", [http, "shared/core/categories.py"])
    targets += service(
        "locations", [http, "shared/core/geo.py"], extra=["services/locations:points"]
    )
    return Graph.from_json(targets + list(extra))


HEAD = repo_graph()


def run(*changes, head=HEAD, base=None, texts=None, services=SERVICES):
    cs = tuple(c if isinstance(c, Change) else Change(c, "modified") for c in changes)
    return affected.compute(
        Inputs(changes=cs, services=services, head=head, base=base, texts=texts or {})
    )

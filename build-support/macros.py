# BUILD-file macros (loaded by pants.toml's build_file_prelude_globs). One definition of
# how a service is packaged, so all services build the same way. This file is a global
# build input (release/change/affected.py): editing it rebuilds every service image,
# which is right, since every image's Dockerfile is generated here.


def ecotrack_service(service, entry_point, extra_lib_dependencies=()):
    """The targets of one service: its sources, tests, two pexes and its image.

    The image is built from two pexes so that Docker caches third-party requirements
    (`:deps`, rarely changing) in a layer apart from first-party code (`:srcs`): a
    one-line change rebuilds and pushes only the small sources layer.
    """
    package = f"{service}_service"
    python_sources(  # noqa: F821 (BUILD-file symbol)
        name="lib",
        sources=[f"{package}/**/*.py"],
        dependencies=list(extra_lib_dependencies),
    )
    python_tests(  # noqa: F821
        name="tests",
        sources=["tests/**/test_*.py"],
        # FastAPI's TestClient needs httpx at run time; nothing import it by name.
        dependencies=["3rdparty/python:reqs#httpx"],
    )
    for name, sources, requirements in (("deps", False, True), ("srcs", True, False)):
        pex_binary(  # noqa: F821
            name=name,
            entry_point=entry_point,
            dependencies=[":lib"],
            layout="packed",
            include_sources=sources,
            include_requirements=requirements,
            include_tools=True,
        )
    docker_image(  # noqa: F821
        name="image",
        instructions=service_dockerfile(service),
        # Pants infers the dependencies on :deps and :srcs from the COPY lines.
        image_tags=["{build_args.IMAGE_TAG}"],
    )


def service_dockerfile(service):
    """The Dockerfile of every service image, one instruction per item.

    Build args (pants.toml [docker].build_args): BASE_IMAGE, the project's base alias
    made by ./inv from the configured base image or built with debootstrap
    (build-support/base-image/); any Debian-based image with python3 (3.11) works,
    e.g. python:3.11-slim-bookworm. GIT_SHA and IMAGE_TAG are build metadata.
    """
    port = "8000"
    healthcheck = (
        '["/app/bin/python", "-c", "import urllib.request; '
        f"urllib.request.urlopen('http://127.0.0.1:{port}/health/ready', timeout=2)\"]"
    )
    return [
        "ARG BASE_IMAGE=ecotrack/base:bookworm",
        # Third-party requirements: a layer that changes only when the lockfile does.
        "FROM ${BASE_IMAGE} AS deps",
        f"COPY services.{service}/deps.pex /tmp/deps.pex",
        "RUN PEX_TOOLS=1 python3 /tmp/deps.pex venv --scope=deps --compile /app",
        # First-party code: the small layer a one-line change rebuilds.
        "FROM ${BASE_IMAGE} AS srcs",
        f"COPY services.{service}/srcs.pex /tmp/srcs.pex",
        "RUN PEX_TOOLS=1 python3 /tmp/srcs.pex venv --scope=srcs --compile /app",
        "FROM ${BASE_IMAGE}",
        "RUN groupadd --system --gid 10001 app \\\n"
        "    && useradd --system --uid 10001 --gid app --no-create-home app \\\n"
        "    && mkdir -p /data && chown app:app /data",
        # Settings that never change come before the code: the legacy builder runs
        # a container for every instruction after the first changed layer, so a
        # one-line change pays for 4 of them (COPY, ARG, LABEL, ENV), not 11.
        f"ENV SERVICE_NAME={service} PORT={port} DATABASE_PATH=/data/{service}.db \\\n"
        "    PYTHONUNBUFFERED=1",
        "USER app",
        "VOLUME /data",
        f"EXPOSE {port}",
        "HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 \\\n"
        f"    CMD {healthcheck}",
        "STOPSIGNAL SIGTERM",
        'ENTRYPOINT ["/app/pex"]',
        "COPY --from=deps /app /app",
        "COPY --from=srcs /app /app",
        # Build metadata goes last so that a new commit never invalidates the layers
        # above.
        "ARG GIT_SHA=unknown IMAGE_TAG=dev",
        f'LABEL org.opencontainers.image.title="ecotrack-{service}" \\\n'
        f'      org.opencontainers.image.source="services/{service}" \\\n'
        '      org.opencontainers.image.revision="${GIT_SHA}" \\\n'
        '      org.opencontainers.image.version="${IMAGE_TAG}"',
        "ENV GIT_SHA=${GIT_SHA} IMAGE_TAG=${IMAGE_TAG}",
    ]

# BUILD-file macros (loaded by pants.toml's build_file_prelude_globs).
# One definition of how a service is packaged, so all five build the same way.


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
        # FastAPI's TestClient needs httpx at run time; nothing imports it by name.
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
        image_tags=["{build_args.IMAGE_TAG}"],
    )

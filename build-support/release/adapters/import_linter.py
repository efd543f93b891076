"""import-linter (PyPI), run on the release tooling's import contract
(build-support/importlinter.ini) for `./inv lint`.

Tests are left out of the graph: a test imports what it tests and the fixtures it
needs across stages, and import-linter's module patterns cannot name `test_*`
modules, so they are removed from the graph grimp builds before any contract is
checked.
"""

from __future__ import annotations

import os
from pathlib import Path


def _is_test(module: str) -> bool:
    return module.rsplit(".", 1)[-1].startswith("test_")


def check(config: Path) -> bool:
    """Checks every contract in `config`, printing import-linter's report; True when
    all are kept. Runs from the config's folder, where the root package lives."""
    from importlinter import cli, configuration
    from importlinter.adapters.building import GraphBuilder
    from importlinter.application.app_config import settings

    class WithoutTests(GraphBuilder):
        def build(self, *args, **kwargs):
            graph = super().build(*args, **kwargs)
            for module in [m for m in graph.modules if _is_test(m)]:
                graph.remove_module(module)
            return graph

    configuration.configure()
    settings.configure(GRAPH_BUILDER=WithoutTests())
    here = os.getcwd()
    os.chdir(config.parent)
    try:
        code = cli.lint_imports(
            config_filename=config.name, no_cache=True, no_logo=True
        )
    finally:
        os.chdir(here)
    return code == cli.EXIT_STATUS_SUCCESS

"""A failed `./pants peek ::` becomes one line, typed when the tooling acts on it."""

from __future__ import annotations

from release.adapters import pants_graph
from release.base.errors import GraphError

UNOWNED = """\
22:08:37.40 [ERROR] 1 Exception encountered:

Engine traceback:
  in `peek` goal

UnownedDependencyError: Pants cannot infer owners for the following imports in the \
target services/locations/locations_service/dataset.py:../lib:

  * core.geo.Point (line: 13)
  * core.gone (line: 14)

If you do not expect an import to be inferrable, add `# pants: no-infer-dep` to the \
import line. Otherwise, see https://www.pantsbuild.org/v2.17/docs/troubleshooting
"""


def test_unowned_import_names_the_file_and_the_modules():
    exc = pants_graph.peek_failure(UNOWNED, 1)
    assert isinstance(exc, pants_graph.UnownedImportError)
    assert exc.importer == "services/locations/locations_service/dataset.py"
    assert exc.modules == ("core.geo.Point", "core.gone")
    assert str(exc) == (
        "Pants could not compute the dependency graph: "
        "services/locations/locations_service/dataset.py imports core.geo.Point, "
        "core.gone, which no file in the tree provides (UnownedDependencyError)"
    )


def test_other_failures_are_the_last_named_error_or_line():
    exc = pants_graph.peek_failure("[ERROR] x\nResolveError: no target\nhint\n", 1)
    assert type(exc) is GraphError
    assert str(exc).endswith(": ResolveError: no target")
    assert str(pants_graph.peek_failure("only this\n", 1)).endswith(": only this")
    assert str(pants_graph.peek_failure("", 3)).endswith("./pants peek exited 3")

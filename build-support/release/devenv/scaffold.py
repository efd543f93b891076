"""`./inv new-service NAME`: a working service from one template.

Everything a service needs besides its code is derived from its name: the BUILD call
(which also generates its Dockerfile, build-support/macros.py), an entry in
gitops/compose.base.yaml and a route in gitops/proxy/haproxy.cfg. This module renders
all of it as text first (pure), refuses before writing anything, then applies.

Edits to the Compose and HAProxy files are textual insertions shaped like the entries
already there, so comments and formatting stay as they are.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template

from release.base import console
from release.base.errors import ConfigError, UsageError
from release.base.layout import PROXY, ROOT, SERVICE_MACRO
from release.change import readme_graph

TEMPLATE_DIR = ROOT / "build-support" / "service-template"
TEMPLATE_SUFFIX = ".tmpl"
# In template paths, the part replaced by the service's name.
NAME_IN_PATH = "NAME"
COMPOSE_FILE = "gitops/compose.base.yaml"
PROXY_CONFIG = "gitops/proxy/haproxy.cfg"
# One label of a DNS name (Compose service, HAProxy backend) that is also the start
# of a Python identifier (`<name>_service`). The bound keeps every generated line
# within black's 88 columns.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]{0,29}")


class ScaffoldError(UsageError):
    """The service cannot be scaffolded as asked (bad name, or it already exists)."""


@dataclass(frozen=True)
class Scaffold:
    """What `apply` writes: new files, and the new text of files it edits."""

    name: str
    files: dict[str, str]  # repo-relative path → content (must not exist yet)
    edits: dict[str, str]  # repo-relative path → its whole new content


# -- names ---------------------------------------------------------------------------


def check_name(name: str, taken: Mapping[str, str]) -> str:
    """The name, if a new service may have it; ScaffoldError says why not.

    `taken`: name → what already has it (see taken_names)."""
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"invalid service name '{name}': use 1-30 lowercase letters and digits, "
            "starting with a letter (it names a Python package and a DNS host)"
        )
    if keyword.iskeyword(name):
        raise ScaffoldError(f"invalid service name '{name}': a Python keyword")
    if name in taken:
        raise ScaffoldError(f"service name '{name}' is taken: {taken[name]}")
    return name


def taken_names(root: Path) -> dict[str, str]:
    """Names a new service would clash with → what has them."""
    compose = (root / COMPOSE_FILE).read_text()
    haproxy = (root / PROXY_CONFIG).read_text()
    taken = {n: f"a section of {PROXY_CONFIG}" for n in proxy_sections(haproxy)}
    taken |= {n: f"a service in {COMPOSE_FILE}" for n in compose_services(compose)}
    taken[PROXY] = "the proxy, released like a service"
    for folder, what in (("shared", "a shared package"), ("services", "a service")):
        taken |= {
            p.name: f"{what} ({folder}/{p.name})" for p in _listing(root / folder)
        }
    return taken


def _listing(directory: Path) -> list[Path]:
    return sorted(directory.iterdir()) if directory.is_dir() else []


def compose_services(text: str) -> set[str]:
    """Keys of the top-level `services:` mapping (two-space indented)."""
    start, end = _section(text, "services")
    return set(re.findall(r"^  ([\w.-]+):", text[start:end], re.M))


def proxy_sections(text: str) -> set[str]:
    """Names of HAProxy sections (frontend, backend, ...) and of used backends."""
    sections = re.findall(r"^[a-z]+\s+(\S+)", text, re.M)
    used = re.findall(r"^\s+(?:use|default)_backend\s+(\S+)", text, re.M)
    return set(sections) | set(used)


def _section(text: str, key: str) -> tuple[int, int]:
    """Where the body of one top-level YAML key is: its indented, blank or comment
    lines up to the next top-level key ((0, 0) when the key is missing)."""
    m = re.search(rf"^{key}:\n((?:(?:[ #].*)?\n)*)", text, re.M)
    return m.span(1) if m else (0, 0)


# -- rendering (pure) ----------------------------------------------------------------


def render_files(name: str, templates: dict[str, str]) -> dict[str, str]:
    """Template path → text, into `services/<name>/...` → rendered text, plus the
    service's BUILD (not a template file: Pants would read a BUILD.* as one)."""
    root = f"services/{name}/"
    files = {
        root + path.replace(NAME_IN_PATH, name): Template(text).substitute(name=name)
        for path, text in templates.items()
    }
    return {root + "BUILD": build_file(name), **files}


def build_file(name: str) -> str:
    """The one line that declares every target of the service, image included."""
    return f'{SERVICE_MACRO}(service="{name}", entry_point="{name}_service.cli:main")\n'


def compose_entry(name: str) -> str:
    var = f"{name.upper()}_IMAGE"
    return (
        f"  {name}:\n"
        "    <<: *http-service\n"
        f"    image: ${{{var}:?{var} is set by ./inv}}\n"
        f'    volumes: ["{name}-data:/data"]\n'
        "\n"
    )


def add_compose_service(text: str, name: str) -> str:
    """The service before the proxy's entry (after the other HTTP services), and its
    data volume last in `volumes:`."""
    if name in compose_services(text) or re.search(rf"^  {name}-data:", text, re.M):
        raise ScaffoldError(f"{COMPOSE_FILE} already has an entry for '{name}'")
    text = _insert_before(text, f"  {PROXY}:\n", compose_entry(name), COMPOSE_FILE)
    start, end = _section(text, "volumes")
    if not text[start:end].strip():
        raise ConfigError(f"{COMPOSE_FILE}: no top-level `volumes:` to add to")
    # After the last volume, before any blank lines that close the section.
    at = start + len(text[start:end].rstrip("\n")) + 1
    return text[:at] + f"  {name}-data: {{}}\n" + text[at:]


def proxy_route(name: str) -> str:
    return f"    use_backend {name} if {{ path_beg /{name}/ }} || {{ path /{name} }}\n"


def proxy_backend(name: str) -> str:
    return (
        f"backend {name}\n"
        "    option httpchk GET /health/ready\n"
        "    http-check expect status 200\n"
        f"    # /{name}/x reaches the service as /x.\n"
        f"    http-request set-path %[path,regsub(^/{name}/?,/)]\n"
        f"    server-template {name} 10 {name}:8000\n"
        "\n"
    )


def add_proxy_route(text: str, name: str) -> str:
    """A route after the others (before the default) and a backend after the others
    (before the not-found one)."""
    if name in proxy_sections(text) or f"/{name}/" in text:
        raise ScaffoldError(f"{PROXY_CONFIG} already routes '{name}'")
    text = _insert_before(
        text, "    default_backend not_found\n", proxy_route(name), PROXY_CONFIG
    )
    return _insert_before(
        text, "backend not_found\n", proxy_backend(name), PROXY_CONFIG
    )


def _insert_before(text: str, line: str, new: str, path: str) -> str:
    m = re.search("^" + re.escape(line), text, re.M)
    if not m:
        raise ConfigError(f"{path}: no line {line.strip()!r} to insert before")
    return text[: m.start()] + new + text[m.start() :]


# -- planning and applying ------------------------------------------------------------


def read_templates(directory: Path = TEMPLATE_DIR) -> dict[str, str]:
    """Template files, keyed by their path in a service (without the suffix)."""
    return {
        str(p.relative_to(directory)).removesuffix(TEMPLATE_SUFFIX): p.read_text()
        for p in sorted(directory.rglob(f"*{TEMPLATE_SUFFIX}"))
    }


def plan(
    name: str, root: Path = ROOT, templates: dict[str, str] | None = None
) -> Scaffold:
    """Everything the new service needs, or ScaffoldError before anything is written."""
    check_name(name, taken_names(root))
    files = render_files(name, templates if templates is not None else read_templates())
    existing = sorted(p for p in files if (root / p).exists())
    if existing:
        raise ScaffoldError(f"{existing[0]} already exists")
    edits = {
        COMPOSE_FILE: add_compose_service((root / COMPOSE_FILE).read_text(), name),
        PROXY_CONFIG: add_proxy_route((root / PROXY_CONFIG).read_text(), name),
    }
    return Scaffold(name=name, files=files, edits=edits)


def apply(scaffold: Scaffold, root: Path = ROOT) -> None:
    for path, text in scaffold.files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("x") as f:  # never overwrite: plan() checked, this enforces
            f.write(text)
    for path, text in scaffold.edits.items():
        # In place, so the file keeps its mode (haproxy.cfg is copied into an image).
        (root / path).write_text(text)


def new_service(name: str, root: Path = ROOT) -> Scaffold:
    """Scaffolds the service, then refreshes the README's dependency graph (Pants)."""
    scaffold = plan(name, root)
    apply(scaffold, root)
    readme_graph.update_readme()
    return scaffold


def render(scaffold: Scaffold) -> None:
    name = scaffold.name
    console.info(f"new service {name}")
    for path in [*scaffold.files, *scaffold.edits, "README.md (dependency graph)"]:
        console.detail(("edited " if path in scaffold.edits else "") + path)
    console.info(
        f"next: ./pants lint test services/{name}::, commit, then ./inv up "
        f"(it serves /{name}/ behind the proxy)"
    )

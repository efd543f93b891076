"""How change/affected.py's answer is shown: the GitHub Actions matrix and the
explanation (pure: a Result in, text or data out)."""

from __future__ import annotations

from release.change.affected import Result
from release.model.target_graph import image_target

ARROW = " → "


def to_matrix(result: Result, explain: bool = False) -> dict:
    """The GitHub Actions matrix (`include`), plus the lists CI acts on besides it."""
    data: dict = {
        "include": [
            {"service": s, "image_target": image_target(s)} for s in result.include
        ],
        "deploy_only": list(result.deploy_only),
        "test_only": list(result.test_only),
        "other_images": list(result.other_images),
    }
    if explain:
        data["explain"] = {
            "chains": {k: list(v) for k, v in sorted(result.chains.items())},
            "deploy_only": dict(result.deploy_reasons),
            "test_only": {k: list(v) for k, v in result.test_chains.items()},
            "no_effect": dict(result.no_effect),
            "notes": list(result.notes),
        }
    return data


def explain_lines(result: Result) -> list[str]:
    def section(title: str, rows: list[str]) -> list[str]:
        return [f"{title} ({len(rows)}):", *[f"  {r}" for r in rows]] if rows else []

    lines = section(
        "affected services",
        [f"{s}: {ARROW.join(result.chains[s])}" for s in result.include],
    ) or ["affected services: none"]
    lines += section(
        "other images",
        [f"{i}: {ARROW.join(result.chains[i])}" for i in result.other_images],
    )
    lines += section(
        "deploy only (config changed, image unchanged)",
        [f"{s}: {result.deploy_reasons[s]}" for s in result.deploy_only],
    )
    lines += section(
        "test only (tests changed, image unchanged)",
        [f"{s}: {ARROW.join(result.test_chains[s])}" for s in result.test_only],
    )
    lines += section(
        "changed files that affect no image",
        [f"{p}: {why}" for p, why in result.no_effect.items()],
    )
    lines += section("notes", list(result.notes))
    return lines

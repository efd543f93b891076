"""Recycling service: disposal guidelines per waste category (read-only)."""

from fastapi import FastAPI
from pydantic import BaseModel

from common.db import check_writable
from common.errors import ApiError
from common.http import create_base_app
from common.settings import Settings
from core.categories import DISPOSAL_GUIDELINES, Category, Guideline
from recycling_service.version import VERSION


class GuidelineOut(BaseModel):
    category: Category
    bin_colour: str
    recyclable: bool
    instructions: list[str]
    accepted_examples: list[str]


def _out(category: Category, guideline: Guideline) -> GuidelineOut:
    return GuidelineOut(
        category=category,
        bin_colour=guideline.bin_colour,
        recyclable=guideline.recyclable,
        instructions=list(guideline.instructions),
        accepted_examples=list(guideline.accepted_examples),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    if settings is None:
        settings = Settings.from_env("recycling")
    # Guidelines are static data; the database volume is only checked so that
    # every service reports readiness the same way.
    app = create_base_app(
        "recycling",
        VERSION,
        settings,
        ready_check=lambda: check_writable(settings.database_path),
    )

    @app.get("/guidelines", response_model=list[GuidelineOut], tags=["recycling"])
    def list_guidelines() -> list[GuidelineOut]:
        return [_out(c, g) for c, g in DISPOSAL_GUIDELINES.items()]

    # A plain str (not the enum) so an unknown category is a 404, not a 422.
    @app.get("/guidelines/{category}", response_model=GuidelineOut, tags=["recycling"])
    def get_guideline(category: str) -> GuidelineOut:
        try:
            key = Category(category.lower())
        except ValueError:
            known = ", ".join(c.value for c in Category)
            raise ApiError(
                404, "unknown_category", f"unknown category; expected one of: {known}"
            ) from None
        return _out(key, DISPOSAL_GUIDELINES[key])

    return app

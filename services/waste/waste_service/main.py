"""Waste service: synchronous classification plus an asynchronous job API."""

from typing import Annotated, Literal

from fastapi import FastAPI, Path, Response
from pydantic import BaseModel, Field

from common.db import check_writable, migrate
from common.errors import ApiError
from common.http import create_base_app
from common.settings import Settings
from core.categories import Category, classify
from waste_service import jobs
from waste_service.version import VERSION


class DescriptionIn(BaseModel):
    description: Annotated[str, Field(min_length=1, max_length=200)]


class ClassificationOut(BaseModel):
    category: Category
    confidence: float
    matched_keywords: list[str]


class JobCreated(BaseModel):
    id: str
    status: Literal["queued"] = "queued"


class JobOut(BaseModel):
    id: str
    description: str
    status: Literal["queued", "processing", "done"]
    result: ClassificationOut | None
    created_at: float
    updated_at: float


def create_app(settings: Settings | None = None) -> FastAPI:
    if settings is None:
        settings = Settings.from_env("waste")
    db_path = settings.database_path
    migrate(db_path, jobs.SCHEMA)
    app = create_base_app(
        "waste", VERSION, settings, ready_check=lambda: check_writable(db_path)
    )

    @app.post("/classify", response_model=ClassificationOut, tags=["waste"])
    def classify_now(body: DescriptionIn) -> ClassificationOut:
        return ClassificationOut(**jobs.classification_dict(classify(body.description)))

    @app.post("/jobs", status_code=202, response_model=JobCreated, tags=["jobs"])
    def create_job(body: DescriptionIn, response: Response) -> JobCreated:
        job_id = jobs.enqueue(db_path, body.description)
        response.headers["Location"] = f"/jobs/{job_id}"
        return JobCreated(id=job_id)

    @app.get("/jobs/{job_id}", response_model=JobOut, tags=["jobs"])
    def read_job(
        job_id: Annotated[str, Path(min_length=1, max_length=64)],
    ) -> JobOut:
        job = jobs.get(db_path, job_id)
        if job is None:
            raise ApiError(404, "job_not_found", "job not found")
        return JobOut(**job)

    return app

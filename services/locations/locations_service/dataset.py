"""The recycling-point dataset shipped inside the package.

Loaded via importlib.resources so it works from a zipped PEX or a wheel, where
there is no real file path next to ``__file__``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files

from core.geo import Point


@dataclass(frozen=True)
class RecyclingPoint:
    id: str
    name: str
    address: str
    accepts: tuple[str, ...]
    location: Point


def load_points(package: str = "locations_service") -> tuple[RecyclingPoint, ...]:
    """Parse and validate the dataset; raises on bad data so startup fails."""
    raw = json.loads((files(package) / "data" / "points.json").read_text("utf-8"))
    points = tuple(
        RecyclingPoint(
            id=str(item["id"]),
            name=str(item["name"]),
            address=str(item["address"]),
            accepts=tuple(str(c) for c in item["accepts"]),
            location=Point(float(item["lat"]), float(item["lon"])),
        )
        for item in raw
    )
    if not points:
        raise ValueError("recycling point dataset is empty")
    if len({p.id for p in points}) != len(points):
        raise ValueError("recycling point ids are not unique")
    return points

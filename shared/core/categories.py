"""The waste category model shared by classification and disposal guidance.

Rules are plain keyword lists so results are deterministic, explainable
(``matched_keywords``) and reviewable by non-programmers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Category(str, Enum):
    PLASTIC = "plastic"
    PAPER = "paper"
    GLASS = "glass"
    METAL = "metal"
    ORGANIC = "organic"
    ELECTRONIC = "electronic"
    HAZARDOUS = "hazardous"
    RESIDUAL = "residual"


KEYWORDS: dict[Category, tuple[str, ...]] = {
    Category.PLASTIC: (
        "plastic", "pet", "polystyrene", "styrofoam", "yogurt cup", "cling film",
        "bubble wrap", "shampoo bottle", "detergent bottle", "straw", "wrapper",
    ),
    Category.PAPER: (
        "paper", "cardboard", "newspaper", "magazine", "carton", "envelope",
        "pizza box", "book", "flyer", "egg box", "receipt",
    ),
    Category.GLASS: (
        "glass", "jar", "wine bottle", "beer bottle", "perfume bottle",
    ),
    Category.METAL: (
        "metal", "aluminium", "aluminum", "tin", "drink can", "soda can", "foil",
        "steel", "bottle cap", "aerosol",
    ),
    Category.ORGANIC: (
        "food", "banana", "apple", "peel", "vegetable", "fruit", "coffee grounds",
        "tea bag", "eggshell", "leftovers", "grass", "leaves", "bread",
    ),
    Category.ELECTRONIC: (
        "phone", "smartphone", "laptop", "computer", "charger", "cable", "tv",
        "television", "keyboard", "printer", "headphones", "tablet", "kettle",
    ),
    Category.HAZARDOUS: (
        "battery", "batteries", "paint", "solvent", "pesticide", "motor oil",
        "medicine", "syringe", "bleach", "light bulb", "fluorescent", "thermometer",
    ),
    Category.RESIDUAL: (
        "diaper", "nappy", "cigarette", "vacuum bag", "chewing gum", "ceramic",
        "mirror", "sponge", "cat litter",
    ),
}  # fmt: skip

# On equal scores, the category whose mistakes are most costly wins: sending a
# battery to the plastic bin is worse than the reverse.
PRIORITY: tuple[Category, ...] = (
    Category.HAZARDOUS,
    Category.ELECTRONIC,
    Category.GLASS,
    Category.METAL,
    Category.PLASTIC,
    Category.PAPER,
    Category.ORGANIC,
    Category.RESIDUAL,
)


def _pattern(keyword: str) -> re.Pattern[str]:
    # Whole words only ("can" must not match "scan"), optional plural suffix.
    words = r"\s+".join(re.escape(word) for word in keyword.split())
    return re.compile(rf"\b{words}(?:s|es)?\b")


_RULES: tuple[tuple[Category, str, re.Pattern[str]], ...] = tuple(
    (category, keyword, _pattern(keyword))
    for category in PRIORITY
    for keyword in KEYWORDS[category]
)


@dataclass(frozen=True)
class Classification:
    category: Category
    confidence: float
    matched_keywords: tuple[str, ...]


def classify(description: str) -> Classification:
    """Deterministic, case-insensitive keyword classification.

    Confidence grows with the number of hits for the winning category and
    shrinks when other categories also matched (an ambiguous description).
    """
    text = description.lower()
    hits: dict[Category, list[str]] = {}
    for category, keyword, pattern in _RULES:
        if pattern.search(text):
            hits.setdefault(category, []).append(keyword)
    if not hits:
        return Classification(Category.RESIDUAL, 0.0, ())
    best = max(PRIORITY, key=lambda c: (len(hits.get(c, ())), -PRIORITY.index(c)))
    best_hits = len(hits[best])
    total_hits = sum(len(words) for words in hits.values())
    strength = min(1.0, 0.6 + 0.2 * best_hits)
    confidence = round(strength * best_hits / total_hits, 2)
    return Classification(best, confidence, tuple(sorted(hits[best])))


@dataclass(frozen=True)
class Guideline:
    bin_colour: str
    recyclable: bool
    instructions: tuple[str, ...]
    accepted_examples: tuple[str, ...]


DISPOSAL_GUIDELINES: dict[Category, Guideline] = {
    Category.PLASTIC: Guideline(
        bin_colour="yellow",
        recyclable=True,
        instructions=(
            "Empty and lightly rinse containers.",
            "Flatten bottles and put caps back on.",
            "Do not bag recyclables inside plastic bags.",
        ),
        accepted_examples=("PET bottles", "yogurt cups", "plastic wrappers"),
    ),
    Category.PAPER: Guideline(
        bin_colour="blue",
        recyclable=True,
        instructions=(
            "Keep paper dry and clean.",
            "Flatten cardboard boxes.",
            "Greasy pizza boxes go to residual waste.",
        ),
        accepted_examples=("newspapers", "cardboard boxes", "envelopes"),
    ),
    Category.GLASS: Guideline(
        bin_colour="green",
        recyclable=True,
        instructions=(
            "Sort by colour where the container asks you to.",
            "Remove lids and corks.",
            "Window glass, mirrors and ceramics are not accepted.",
        ),
        accepted_examples=("wine bottles", "jam jars", "perfume bottles"),
    ),
    Category.METAL: Guideline(
        bin_colour="yellow",
        recyclable=True,
        instructions=(
            "Empty cans completely.",
            "Aerosols must be empty; never pierce them.",
        ),
        accepted_examples=("drink cans", "food tins", "aluminium foil"),
    ),
    Category.ORGANIC: Guideline(
        bin_colour="brown",
        recyclable=True,
        instructions=(
            "No plastic bags, even 'biodegradable' ones unless certified.",
            "Wrap wet food scraps in newspaper.",
        ),
        accepted_examples=("fruit peels", "coffee grounds", "garden waste"),
    ),
    Category.ELECTRONIC: Guideline(
        bin_colour="none",
        recyclable=True,
        instructions=(
            "Bring to a recycling point or retailer take-back scheme.",
            "Remove batteries and wipe personal data first.",
        ),
        accepted_examples=("phones", "laptops", "chargers and cables"),
    ),
    Category.HAZARDOUS: Guideline(
        bin_colour="none",
        recyclable=False,
        instructions=(
            "Never put in household bins or drains.",
            "Bring to a hazardous waste collection point in original packaging.",
            "Tape battery terminals to prevent short circuits.",
        ),
        accepted_examples=("batteries", "paint", "medicines", "light bulbs"),
    ),
    Category.RESIDUAL: Guideline(
        bin_colour="grey",
        recyclable=False,
        instructions=(
            "Use only for items no other stream accepts.",
            "Bag loose waste to keep the bin clean.",
        ),
        accepted_examples=("diapers", "cigarette butts", "broken ceramics"),
    ),
}

import pytest

from core.categories import (
    DISPOSAL_GUIDELINES,
    KEYWORDS,
    Category,
    Classification,
    classify,
)


@pytest.mark.parametrize(
    "description, category",
    [
        pytest.param("Empty plastic bottle", Category.PLASTIC, id="plastic"),
        pytest.param("old NEWSPAPERS and a magazine", Category.PAPER, id="paper-caps"),
        pytest.param("glass jar of jam", Category.GLASS, id="glass"),
        pytest.param("crushed soda can", Category.METAL, id="metal-phrase"),
        pytest.param("banana peel", Category.ORGANIC, id="organic"),
        pytest.param("broken laptop charger", Category.ELECTRONIC, id="electronic"),
        pytest.param("AA batteries", Category.HAZARDOUS, id="hazardous"),
        pytest.param("used diapers", Category.RESIDUAL, id="residual-keyword"),
        pytest.param("two eggshells", Category.ORGANIC, id="plural"),
        pytest.param("phone battery", Category.HAZARDOUS, id="tie-prefers-hazard"),
    ],
)
def test_classify(description, category):
    assert classify(description).category is category


@pytest.mark.parametrize(
    "description",
    ["", "   ", "something mysterious", "scan this", "a plasticky thing"],
    ids=["empty", "blank", "unknown", "no-substring-match", "no-prefix-match"],
)
def test_unmatched_is_residual_with_zero_confidence(description):
    assert classify(description) == Classification(Category.RESIDUAL, 0.0, ())


def test_matched_keywords_and_confidence():
    single = classify("a cardboard box")
    double = classify("cardboard and newspaper")
    ambiguous = classify("plastic and paper")
    assert single.matched_keywords == ("cardboard",)
    assert double.matched_keywords == ("cardboard", "newspaper")
    assert 0 < ambiguous.confidence < single.confidence < double.confidence <= 1.0


def test_classify_is_deterministic():
    # One hit each for glass and metal: the tie goes to glass (before metal in
    # PRIORITY); confidence = min(1, 0.6 + 0.2 × 1) × 1 hit / 2 hits = 0.4.
    expected = Classification(Category.GLASS, 0.4, ("glass",))
    assert [classify("glass bottle and tin") for _ in range(3)] == [expected] * 3


def test_every_category_has_rules_and_guidelines():
    assert set(KEYWORDS) == set(Category) == set(DISPOSAL_GUIDELINES)
    for guideline in DISPOSAL_GUIDELINES.values():
        assert guideline.instructions and guideline.accepted_examples


def test_category_values_are_lowercase_strings():
    assert Category("glass") is Category.GLASS
    assert all(c.value == c.value.lower() for c in Category)

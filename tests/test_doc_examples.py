"""Every `./inv` command example in README.md and docs/ names a task and flags that
exist (parsed by invoke's own parser against the real tasks), and the generated
reference pages are current: what `./inv lint` checks, run as a test too."""

from __future__ import annotations

from release.cli import doc_examples, reference


def test_every_command_example_in_the_docs_parses():
    found = [ex for page in doc_examples.pages() for ex in doc_examples.examples(page)]
    assert len(found) > 100  # the check reads the docs, not an empty list
    assert doc_examples.problems() == []


def test_the_cli_and_exit_code_references_are_current():
    assert reference.stale() == []


def test_a_wrong_example_is_named_with_its_page_and_line(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "Run `./inv deploy --env staging [--dry-run]` or `./inv nosuch`.\n"
    )
    (tmp_path / "docs" / "page.md").write_text(
        "```bash\n"
        "./inv fleet up --count 3      # fine\n"
        "./inv deploy --hosts FILE \\\n"
        "    --env prod | tee out      # --hosts is not a flag\n"
        "./inv promote --from staging --env prod --service auth --service users\n"
        "```\n"
    )
    found = doc_examples.problems(tmp_path)
    assert len(found) == 2, found
    assert found[0].startswith("README.md:1: `./inv nosuch`: no task named 'nosuch'")
    assert found[1].startswith("docs/page.md:4: `./inv deploy --hosts FILE")
    assert "--hosts" in found[1]

from release.base.redact import redact, redact_data


def test_user_and_token_are_masked():
    assert (
        redact("https://user:tok3n@git.example/x.git")
        == "https://***@git.example/x.git"
    )


def test_token_only_and_several_urls_in_a_line():
    line = "cannot fetch main from https://ghp_abc@h/x: see ssh://me:pw@h2:22/y"
    assert redact(line) == (
        "cannot fetch main from https://***@h/x: see ssh://***@h2:22/y"
    )


def test_urls_without_credentials_and_scp_style_stay():
    for text in ("https://h/x.git", "/srv/repo", "git@github.com:o/r.git", "a@b"):
        assert redact(text) == text


def test_data_is_redacted_recursively():
    doc = {
        "repo": "https://u:p@h/r",
        "events": [{"message": "x https://u:p@h/r"}],
        "n": 3,
    }
    assert redact_data(doc) == {
        "repo": "https://***@h/r",
        "events": [{"message": "x https://***@h/r"}],
        "n": 3,
    }

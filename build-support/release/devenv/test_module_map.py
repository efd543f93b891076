from release.devenv import module_map

README = """# intro, kept as written

{begin}
old map
{end}

after, kept too
""".format(begin=module_map.BEGIN, end=module_map.END)


def tree(root, files):
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def test_first_sentence_is_one_line():
    doc = "Carries out one service's rollout\nsteps through a Platform.\n\nMore."
    assert module_map.first_sentence(doc) == (
        "Carries out one service's rollout steps through a Platform."
    )
    assert module_map.first_sentence(
        "`./inv drift`: the manifest against the host"
    ) == ("`./inv drift`: the manifest against the host.")
    assert module_map.first_sentence("Pure (see plan.py). The rest.") == (
        "Pure (see plan.py)."
    )


def test_a_long_first_sentence_is_cut_at_its_first_clause_outside_brackets():
    doc = (
        "The engine's steps that talk to the proxy (steps.py: park, let in), through "
        "HAProxy's runtime API: new replicas are held out in maintenance until "
        "healthy, then let in once the proxy's own checks see them UP."
    )
    assert module_map.first_sentence(doc) == (
        "The engine's steps that talk to the proxy (steps.py: park, let in), through "
        "HAProxy's runtime API."
    )


def test_sections_follow_the_packages_and_skip_tests(tmp_path):
    root = tree(
        tmp_path,
        {
            "__init__.py": "",
            "plan/__init__.py": '"""Pure: what should run."""',
            "plan/plan.py": '"""The deploy plan: desired against live."""',
            "plan/test_plan.py": '"""Not a module of the map."""',
            "targets/__init__.py": '"""Where a deploy goes."""',
            "targets/swarm/__init__.py": '"""A Swarm."""',
            "targets/swarm/stack.py": '"""The stack file."""',
        },
    )
    found = module_map.sections(root)
    assert [(s.package, s.summary, [m.path for m in s.modules]) for s in found] == [
        ("plan", "Pure: what should run.", ["plan/plan.py"]),
        ("targets", "Where a deploy goes.", []),
        ("targets/swarm", "A Swarm.", ["targets/swarm/stack.py"]),
    ]
    assert module_map.undocumented(found) == []


def test_a_module_without_a_docstring_is_named(tmp_path):
    root = tree(
        tmp_path,
        {"plan/__init__.py": "", "plan/plan.py": "X = 1\n", "plan/ok.py": '"""Ok."""'},
    )
    assert module_map.undocumented(module_map.sections(root)) == [
        "plan/__init__.py",
        "plan/plan.py",
    ]


def test_update_rewrites_only_the_block_and_then_is_current(tmp_path):
    root = tree(
        tmp_path / "release",
        {"gitops/__init__.py": '"""Git."""', "gitops/store.py": '"""A | B."""'},
    )
    readme = tmp_path / "README.md"
    readme.write_text(README)
    assert not module_map.is_current(readme, root)
    assert module_map.update_readme(readme, root) is True
    text = readme.read_text()
    assert text.startswith("# intro, kept as written\n") and "after, kept too" in text
    assert "| `gitops/store.py` | A \\| B. |" in text
    assert "old map" not in text
    assert module_map.is_current(readme, root)
    assert module_map.update_readme(readme, root) is False

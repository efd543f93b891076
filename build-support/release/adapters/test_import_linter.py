from release.adapters import import_linter

CONTRACT = """
[importlinter]
root_package = shop

[importlinter:contract:layers]
name = cli above model
type = layers
containers = shop
layers =
    cli
    model
"""


def package(root, model_imports: str) -> None:
    files = {
        "shop/__init__.py": "",
        "shop/cli/__init__.py": "",
        "shop/cli/run.py": "from shop.model import order\n",
        "shop/model/__init__.py": "",
        "shop/model/order.py": model_imports,
        # a test may import across layers: it is not part of the graph
        "shop/model/test_order.py": "from shop.cli import run\n",
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "contract.ini").write_text(CONTRACT)


def test_a_kept_contract_passes_and_tests_are_left_out(tmp_path, capsys):
    package(tmp_path, "X = 1\n")
    assert import_linter.check(tmp_path / "contract.ini") is True
    assert "1 kept, 0 broken" in capsys.readouterr().out


def test_an_import_up_the_layers_breaks_it(tmp_path, capsys):
    package(tmp_path, "from shop.cli import run\n")
    assert import_linter.check(tmp_path / "contract.ini") is False
    out = capsys.readouterr().out
    assert "shop.model is not allowed to import shop.cli" in out
    assert "shop.model.order -> shop.cli.run" in out

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "bayes_ket").rglob("__init__.py")}
    assert found | {"bayes_ket.model_cards"} == listed


def test_cards_ship_with_the_package():
    from bayes_ket.cards import available, load_card

    assert "trajectory" in available()
    card = load_card("trajectory")
    assert card.family == "trajectory" and "moderation_sigma" in card.priors

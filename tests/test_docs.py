"""The documentation site (issue 12, item 6): every public name has an API entry, every registered
model family a page, the site builds with warnings as errors, and nothing points users to a file
they do not have."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bayes_ket as bk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

import hooks  # noqa: E402  (docs/hooks.py: the generated pages)

HAS_MKDOCS = all(importlib.util.find_spec(m) is not None for m in ("mkdocs", "mkdocstrings", "mkdocs_jupyter"))


def test_every_public_name_has_an_api_entry():
    page = hooks.api_page()
    targets = hooks.api_targets()
    assert set(targets) == set(bk.__all__)
    for name in bk.__all__:
        assert f"### `bk.{name}`" in page, name
        assert f"::: {targets[name]}" in page
    # each target is the object the public name gives
    import importlib

    for name, path in targets.items():
        module, _, attribute = path.rpartition(".")
        try:
            obj = getattr(importlib.import_module(module), attribute)
        except ModuleNotFoundError:
            obj = importlib.import_module(path)
        assert obj is getattr(bk, name), name


def test_every_family_has_a_page():
    from bayes_ket.families import names

    assert {name for name, _, _ in hooks._families()} == set(names())
    for name, module, cards in hooks._families():
        page = hooks._page(name, module, cards)
        assert f"::: {module}" in page and "| prior | value | scale | meaning |" in page


def test_docs_explain_the_conventions():
    glossary = (ROOT / "docs" / "glossary.md").read_text()
    for text in ("negative = fewer symptoms with ketamine", "positive = weaker benefit", "reference values",
                 "`moderator_effect`", "**median**", "floor"):
        assert text in glossary, text
    data = (ROOT / "docs" / "data.md").read_text()
    for option in ("arm_labels=", "visit_windows=", "date_origin=", "sep=", "reference_levels=", "studies="):
        assert option in data, option


def test_no_pointer_to_internal_files():
    owned = [ROOT / "README.md", ROOT / "bayes_ket" / "cli.py", *sorted((ROOT / "docs").rglob("*.md")),
             *sorted((ROOT / "notebooks").glob("*.ipynb")), *sorted((ROOT / "bayes_ket" / "plots").glob("*.py"))]
    for path in owned:
        assert "API.md" not in path.read_text(encoding="utf-8"), path


def test_every_tutorial_notebook_is_in_the_site():
    linked = {p.name for p in (ROOT / "docs" / "tutorials").glob("*.ipynb")}
    assert linked == {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    nav = (ROOT / "mkdocs.yml").read_text()
    for name in linked:
        assert f"tutorials/{name}" in nav, name


@pytest.mark.skipif(not HAS_MKDOCS, reason="the docs tools are not installed (pip install -e '.[docs]')")
def test_site_builds_strict(tmp_path):
    site = tmp_path / "site"
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(ROOT / "mkdocs.yml"),
                          "-d", str(site)], cwd=ROOT, capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1",
                                                                                              **_env()})
    assert run.returncode == 0, run.stdout + run.stderr
    api = (site / "api" / "index.html").read_text()
    for name, target in hooks.api_targets().items():
        assert re.search(rf">\s*<code>bk\.{re.escape(name)}</code>", api), name
        assert f'id="{target}"' in api, f"{name}: mkdocstrings rendered nothing for {target}"
    from bayes_ket.families import names

    for family in names():
        assert (site / "families" / family / "index.html").exists(), family
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        assert (site / "tutorials" / notebook.stem / "index.html").exists(), notebook.name


def _env():
    import os

    return {k: v for k, v in os.environ.items()}

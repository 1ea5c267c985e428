"""The family contract: generic modules know no family; every registered family fulfils the contract."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import bayes_ket as bk
from bayes_ket import families
from bayes_ket.families.base import SUMMARY_KINDS, Family, Quantity

PACKAGE = Path(bk.__file__).resolve().parent
#: modules that must work for any family through the contract (the CLI may name its demo's model)
GENERIC = ["fitting.py", "results.py", "summaries.py", "sensitivity.py", "calibration.py", "cards.py",
           "engine", "sweeps", "plots/__init__.py", "plots/core.py", "plots/ppc.py", "plots/sweep.py",
           "families/__init__.py", "families/base.py", "families/design.py"]


def _modules():
    for entry in GENERIC:
        path = PACKAGE / entry
        yield from (sorted(path.glob("*.py")) if path.is_dir() else [path])


def _string_constants(path):
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


@pytest.mark.parametrize("path", list(_modules()), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_generic_module_names_no_family(path):
    names = set(families.names())
    found = [s for s in _string_constants(path) if s in names or any(
        f"'{n}'" in s or f'"{n}"' in s or s.startswith(f"{n}:") for n in names)]
    assert not found, f"{path.name} names families {found}"


def test_the_check_would_catch_a_family_name(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""Docstrings may name trajectory."""\nif fit.meta["family"] == "items":\n    pass\n')
    assert "items" in _string_constants(bad)


@pytest.mark.parametrize("name", families.names())
def test_registered_family_fulfils_the_contract(name):
    family = families.get(name)
    assert isinstance(family, Family) and family.name == name
    assert family.coordinate_columns and isinstance(family.dim_names, dict)
    assert "ppc" in family.figures() and all(callable(f) for f in family.figures().values())
    assert all(callable(f) for f in family.methods().values())
    from bayes_ket.cards import available, load_card

    cards = [c for c in available() if load_card(c).family == name]
    assert cards, f"no card in models/ uses family {name!r}"


def test_quantity_specs_round_trip_and_kinds():
    q = Quantity("nnt_response", "posterior_predictive", summary="nnt", source="response_difference")
    assert Quantity.from_dict(q.to_dict()) == q and q.variable == "response_difference"
    from bayes_ket.summaries import SUMMARISERS

    assert set(SUMMARY_KINDS) == set(SUMMARISERS)


def test_register_refuses_duplicates_and_non_families():
    with pytest.raises(bk.BayesKetError, match="registered already"):
        families.register(families.get("trajectory"))
    with pytest.raises(bk.BayesKetError, match="Family instance"):
        families.register(object())


def test_offset_priors_derived_from_dims_and_standard_normals(mock_fit):
    offsets = set(mock_fit.meta["offset_priors"])
    assert "study_offset" not in offsets and "sigma" not in offsets
    import bayes_ket.families.trajectory  # noqa: F401

    nc = bk.Analysis("trajectory", bk.simulate("pooled_rct", seed=0, n_patients=30, n_studies=3),
                     parameterization="noncentered")
    offsets = set(nc.family.offset_priors(nc.model))
    assert {"patient_z", "study_z", "study_effect_z"} <= offsets
    assert not {"sd_study", "trajectory_coef", "patient_sd"} & offsets


def test_the_registry_loads_no_sampler_stack():
    """Every registered family imports without PyMC, PyTensor or JAX: ``import bayes_ket``, the
    family registry and a bad request's error stay fast (they load on the first model build)."""
    script = ("import sys, bayes_ket.families as f; f.names(); "
              "print(sorted(m for m in ('pymc', 'pytensor', 'jax', 'arviz') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out

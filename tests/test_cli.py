"""The command line (issue 12, items 2, 8 and 10): init from a raw export, fit --config and the
positional form, sweep, the demo beside its truth, chains=1 still writing every output, and
errors that name the TOML key or flag that fixes them. Sampling tests are ``integration``."""

import json
import tomllib
import warnings

import numpy as np
import pytest

import bayes_ket as bk
from bayes_ket import cli

TINY = ["--draws", "60", "--tune", "60", "--chains", "2"]
OUTPUTS = {"summary.csv", "diagnostics.json", "data_report.txt", "priors.json", "ppc.png", "trajectories.png",
           "effect.png", "moderation_msm.png", "fit.nc"}


def raw_export(path, n_patients=30, seed=0, encoding="latin-1"):
    """A study team's long export: own column names, arm labels, actual visit days, ';' and latin-1."""
    trial = bk.simulate("pooled_rct", seed=seed, n_patients=n_patients)
    f = trial.frame.copy()
    rng = np.random.default_rng(seed)
    jitter = {0: 0, 1: 0, 3: 0, 7: 1, 10: 1, 14: 2}
    f["actual"] = [d + (rng.integers(-jitter[d], jitter[d] + 1) if jitter[d] else 0) for d in f["day"]]
    out = f.rename(columns={"patient": "Subject ID", "study": "Centre", "arm": "Group", "actual": "Visit day",
                            "madrs_total": "MADRS", "msm": "Maudsley score"})
    out["Group"] = out["Group"].map({1: "Ketamine 0.5 mg/kg", 0: "Saline"})
    out["Centre"] = out["Centre"].map({"S01": "Zürich", "S02": "Montréal"})
    out = out[["Subject ID", "Centre", "Group", "Visit day", "MADRS", "Maudsley score"]]
    out.to_csv(path, sep=";", index=False, encoding=encoding)
    return path


def wide_export(path, n_patients=30, seed=0):
    """One row per patient, scores in <name>_d<day> columns with the export's own names."""
    trial = bk.simulate("pooled_rct", seed=seed, n_patients=n_patients)
    f = trial.frame
    wide = f.pivot_table(index=["patient", "arm", "msm"], columns="day", values="madrs_total").reset_index()
    wide.columns = ["Patient", "Treatment", "MSM"] + [f"MADRS_d{d:g}" for d in wide.columns[3:]]
    wide["Treatment"] = wide["Treatment"].map({1: "KET", 0: "Midazolam"})
    wide.to_csv(path, index=False)
    return path


def run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# ---- init -------------------------------------------------------------------------------------------
def test_init_writes_a_commented_template_that_reads(tmp_path, capsys):
    data = raw_export(tmp_path / "export.csv")
    target = tmp_path / "analysis.toml"
    rc, out, err = run(capsys, "init", data, "--out", target)
    assert rc == 0, err
    text = target.read_text(encoding="utf-8")
    config = tomllib.loads(text)
    assert config["columns"] == {"Subject ID": "patient", "Centre": "study", "Group": "arm", "Visit day": "day",
                                 "MADRS": "madrs_total", "Maudsley score": "msm"}
    assert config["arm_labels"] == {"Ketamine 0.5 mg/kg": 1}
    assert config["data"]["encoding"] == "latin-1" and config["data"]["sep"] == ";"
    # the days cluster (6-8 for day 7): the schedule proposal becomes the visit windows
    assert config["visit_windows"]["7"] == [6, 8] and config["visit_windows"]["14"] == [12, 16]
    assert config["model"]["moderators"] == ["msm"]
    assert "# CHECK" in text and "Read with these settings" in text
    # the template reads as it is
    loaded = cli.load_config(target)
    trial = cli._read(loaded["data"]["file"], cli.read_options(loaded))
    assert list(trial.days) == [0, 1, 3, 7, 10, 14]
    assert trial.arm_names == {1: "Ketamine 0.5 mg/kg", 0: "Saline"}
    assert "actual_day" in trial.frame
    rc, _, err = run(capsys, "init", data, "--out", target)
    assert rc == 2 and "--force" in err


def test_init_wide_export_maps_base_names(tmp_path, capsys):
    data = wide_export(tmp_path / "wide.csv")
    rc, out, err = run(capsys, "init", data, "--out", tmp_path / "a.toml")
    assert rc == 0, err
    config = tomllib.loads((tmp_path / "a.toml").read_text())
    assert config["columns"] == {"Patient": "patient", "Treatment": "arm", "MSM": "msm", "MADRS": "madrs_total"}
    assert config["arm_labels"] == {"KET": 1}
    loaded = cli.load_config(tmp_path / "a.toml")
    trial = cli._read(loaded["data"]["file"], cli.read_options(loaded))
    assert trial.n_patients == 30 and trial.arm_names[0] == "Midazolam"


def test_init_leaves_unknown_arm_labels_to_the_user(tmp_path, capsys):
    data = raw_export(tmp_path / "export.csv", encoding="utf-8")
    text = data.read_text().replace("Saline", "Arm B").replace("Ketamine 0.5 mg/kg", "Arm A")
    data.write_text(text)
    rc, out, err = run(capsys, "init", data, "--out", tmp_path / "a.toml")
    assert rc == 0
    written = (tmp_path / "a.toml").read_text()
    assert '# "Arm A" = 1    # CHECK: 1 if this is the ketamine arm' in written
    assert "could not be read with these settings yet" in written and "[arm_labels]" in written


# ---- config and errors ------------------------------------------------------------------------------
def test_config_visit_windows_keys_become_days(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text('[data]\nfile = "x.csv"\n[visit_windows]\n"0" = [0, 0]\n"7" = [5, 9]\n')
    config = cli.load_config(path)
    assert config["visit_windows"] == {0.0: (0, 0), 7.0: (5, 9)}
    assert config["data"]["file"] == str(tmp_path / "x.csv")
    path.write_text('[visit_windows]\nweek1 = [5, 9]\n')
    with pytest.raises(bk.BayesKetError, match=r'quoted number, e.g. "7" = \[5, 9\]'):
        cli.load_config(path)


def test_config_unknown_keys_and_bad_toml(tmp_path, capsys):
    path = tmp_path / "a.toml"
    path.write_text('[data]\nfile = "x.csv"\nsepp = ";"\n')
    rc, _, err = run(capsys, "fit", "--config", path)
    assert rc == 2 and "unknown key(s) ['sepp'] in [data]" in err
    path.write_text('[data\nfile = x.csv\n')
    rc, _, err = run(capsys, "fit", "--config", path)
    assert rc == 2 and "is not valid TOML" in err


def test_errors_name_the_toml_key_not_the_python_argument(tmp_path, capsys):
    data = raw_export(tmp_path / "export.csv")
    run(capsys, "init", data, "--out", tmp_path / "a.toml")
    text = (tmp_path / "a.toml").read_text(encoding="utf-8")
    (tmp_path / "b.toml").write_text(text.replace('"Ketamine 0.5 mg/kg" = 1', ""), encoding="utf-8")
    rc, _, err = run(capsys, "fit", "--config", tmp_path / "b.toml")
    assert rc == 2
    assert "[arm_labels] table of analysis.toml" in err and "arm_labels=" not in err
    # positional form on a raw export: the error names the [columns] table and bayes-ket init
    rc, _, err = run(capsys, "fit", "trajectory", data, "--out", tmp_path / "o")
    assert rc == 2 and "[columns] table of analysis.toml" in err and "bayes-ket init DATA" in err
    assert "columns=" not in err


def test_cli_message_mapping():
    m = cli.cli_message("Fix: supply the values, or leave 'msm' out of moderators= to keep them; "
                        "pass visit_windows={7: (5, 9)}, sep=';' or parameterization='noncentered'.")
    assert "moderators=" not in m and "visit_windows=" not in m and "sep=" not in m
    assert "[model] of analysis.toml (or --moderators)" in m and "--sep" in m
    assert "parameterization = ... in [model]" in m
    # an argument that is not a keyword of ours stays as it is
    assert cli.cli_message("fit.prob('effect', '<', -2, day=14)") == "fit.prob('effect', '<', -2, day=14)"


def test_missing_moderator_warning_is_translated(capsys):
    cli._show_warning(bk.BayesKetWarning("5 of 80 patients have no value for moderator 'msm': their rows are "
                                         "excluded from this fit. Fix: ... leave 'msm' out of moderators= to keep them."),
                      bk.BayesKetWarning, "x.py", 1)
    err = capsys.readouterr().err
    assert err.startswith("bayes-ket: warning: 5 of 80 patients") and "--moderators" in err


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for text in ("bayes-ket init DATA", "bayes-ket fit --config analysis.toml", "bayes-ket fit MODEL DATA --out DIR",
                 "sweep"):
        assert text in out
    assert "API.md" not in out


# ---- sampling ----------------------------------------------------------------------------------------
@pytest.mark.integration
def test_fit_config_one_chain_writes_everything(tmp_path, capsys):
    data = raw_export(tmp_path / "export.csv")
    run(capsys, "init", data, "--out", tmp_path / "analysis.toml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc, out, err = run(capsys, "fit", "--config", tmp_path / "analysis.toml", "--draws", "60", "--tune", "60",
                           "--chains", "1", "--out", tmp_path / "out")
    assert rc == 0, err
    assert OUTPUTS <= {p.name for p in (tmp_path / "out").iterdir()}
    diag = json.loads((tmp_path / "out" / "diagnostics.json").read_text())
    assert diag["max_rhat"] is None and diag["ok"] is False
    assert "R-hat needs at least 2 chains" in out
    assert "effect: MADRS total" in out and "moderation by msm" in out
    fit = bk.load_fit(tmp_path / "out" / "fit.nc")
    assert fit.meta["chains"] == 1 and fit.meta["outcome"] == "madrs_total"


@pytest.mark.integration
def test_fit_positional_form(tmp_path, capsys):
    trial = bk.simulate("pooled_rct", seed=2, n_patients=30)
    path = tmp_path / "canonical.csv"
    trial.frame.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc, out, err = run(capsys, "fit", "trajectory", path, "--out", tmp_path / "out", "--moderators", "", *TINY)
    assert rc == 0, err
    assert {"summary.csv", "effect.png", "fit.nc", "ppc.png"} <= {p.name for p in (tmp_path / "out").iterdir()}
    assert "moderation_msm.png" not in {p.name for p in (tmp_path / "out").iterdir()}


@pytest.mark.integration
def test_sweep_with_config(tmp_path, capsys):
    data = raw_export(tmp_path / "export.csv")
    run(capsys, "init", data, "--out", tmp_path / "analysis.toml")
    grid = tmp_path / "grid.toml"
    grid.write_text("moderation_sigma = [3.0, 6.0]\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc, out, err = run(capsys, "sweep", "--config", tmp_path / "analysis.toml", "--grid", grid,
                           "--out", tmp_path / "sweep", *TINY)
    assert rc == 0, err
    assert (tmp_path / "sweep" / "sweep.csv").exists() and "moderation_sigma" in out


@pytest.mark.integration
def test_demo_prints_estimates_beside_the_truth(tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc, out, err = run(capsys, "demo", "--out", tmp_path / "demo", "--draws", "100", "--tune", "100",
                           "--chains", "2")
    assert rc == 0, err
    truth = bk.simulate("pooled_rct", seed=0).truth
    assert f"truth {truth['effect_total'][14.0]:+.2f}" in out
    assert f"truth {truth['moderation_total'][14.0]:+.2f}" in out
    assert "What this trial can resolve" in out and "cannot resolve a moderation this small" in out
    assert "95% CrI" in out and OUTPUTS <= {p.name for p in (tmp_path / "demo").iterdir()}

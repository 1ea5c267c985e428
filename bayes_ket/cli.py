"""Command line: bayes-ket demo | init | fit | sweep.

    bayes-ket demo [--out DIR]                      the trajectory model on a simulated pooled two-RCT trial,
                                                    every estimate printed beside the simulation's truth
    bayes-ket init DATA [--out analysis.toml]       a commented analysis.toml written from the file's columns
    bayes-ket fit --config analysis.toml [--out DIR]
    bayes-ket fit MODEL DATA --out DIR              (a file already in the canonical layout)
    bayes-ket sweep MODEL DATA --grid FILE --out DIR   or   bayes-ket sweep --config analysis.toml --grid FILE

An analysis.toml holds everything ``bk.read_trial`` and ``bk.fit`` take: the data file and
how to read it ([data]), the column mapping ([columns]), arm labels ([arm_labels]), visit
windows ([visit_windows]), reference levels ([reference_levels]), the model ([model]),
prior overrides ([priors]), the sampler ([sampler]) and the output folder ([output]).
``bayes-ket init DATA`` writes one with every key explained. Errors name the TOML key or the
flag that fixes them.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import warnings
from pathlib import Path

from .errors import BayesKetError

#: the tables of analysis.toml and, for the fixed ones, their keys
DATA_KEYS = ("file", "sep", "decimal", "encoding", "na_values", "date_origin", "date_format", "visit_columns",
             "study_columns", "studies", "convert_hrsd", "skiprows")
SAMPLER_KEYS = ("draws", "tune", "chains", "seed", "target_accept", "max_treedepth")
OUTPUT_KEYS = ("dir",)
SWEEP_KEYS = ("grid", "method", "scheduler")
MAPPING_TABLES = ("columns", "arm_labels", "visit_windows", "reference_levels", "priors")
TABLES = ("data", "model", "sampler", "output", "sweep", *MAPPING_TABLES)
READ_FLAGS = {"sep": "--sep", "decimal": "--decimal", "encoding": "--encoding", "na_values": "--na-values"}

#: Python keyword in a message -> how to give it on the command line
CLI_FIXES = {
    "columns": ('the [columns] table of analysis.toml ("your column" = "canonical name")', None),
    "arm_labels": ('the [arm_labels] table of analysis.toml ("your label" = 1 for ketamine, 0 for control)', None),
    "visit_windows": ('the [visit_windows] table of analysis.toml ("7" = [5, 9]: visit day = [lowest, highest])', None),
    "reference_levels": ('the [reference_levels] table of analysis.toml (column = "level")', None),
    "date_origin": ('date_origin = "column" in [data] of analysis.toml', None),
    "date_format": ('date_format = "%d/%m/%Y" in [data] of analysis.toml', None),
    "sep": ('sep = ";" in [data] of analysis.toml', "--sep"),
    "decimal": ('decimal = "," in [data] of analysis.toml', "--decimal"),
    "encoding": ('encoding = "latin-1" in [data] of analysis.toml', "--encoding"),
    "na_values": ('na_values = ["."] in [data] of analysis.toml', "--na-values"),
    "visit_columns": ('visit_columns = ["column", ...] in [data] of analysis.toml', None),
    "study_columns": ('study_columns = ["column", ...] in [data] of analysis.toml', None),
    "studies": ('studies = "study_table.csv" in [data] of analysis.toml', None),
    "convert_hrsd": ("convert_hrsd = false in [data] of analysis.toml", None),
    "outcome": ('outcome = "madrs_total" in [model] of analysis.toml', "--outcome"),
    "moderators": ('moderators = ["msm"] in [model] of analysis.toml', "--moderators"),
    "time": ('time = "visit" in [model] of analysis.toml', "--time"),
    "priors": ("the [priors] table of analysis.toml (prior name = number)", None),
    "draws": ("draws = 2000 in [sampler] of analysis.toml", "--draws"),
    "tune": ("tune = 1000 in [sampler] of analysis.toml", "--tune"),
    "chains": ("chains = 4 in [sampler] of analysis.toml", "--chains"),
    "seed": ("seed = 0 in [sampler] of analysis.toml", "--seed"),
    "grid": ("a grid file (JSON or TOML: prior name = [values])", "--grid"),
}
#: family options: given as keys of [model]
MODEL_OPTIONS = ("parameterization", "link", "patient_item", "patient_change", "effect_by_day", "remission_threshold",
                 "outcome_scale", "baseline", "scale", "k", "degree", "random", "predictors", "shared",
                 "study_moderators", "mstar", "mstar_cv")
KEYWORD = re.compile(r"(?<![\w.])(" + "|".join(sorted(set(CLI_FIXES) | set(MODEL_OPTIONS), key=len, reverse=True))
                     + r")=([^\s,;)]+)?")


# ---- errors and warnings in command-line terms -------------------------------------------------
def cli_message(message: str) -> str:
    """A package message with each Python keyword (``arm_labels=``) replaced by its command-line form."""
    def fix(match):
        name, value = match.group(1), match.group(2)
        if name in CLI_FIXES:
            toml, flag = CLI_FIXES[name]
            phrase = f"{toml}{f' (or {flag})' if flag else ''}"
        else:
            phrase = f"{name} = ... in [model] of analysis.toml"
        return f"{phrase}, e.g. {value}" if value else phrase

    message = KEYWORD.sub(fix, message)
    message = message.replace("trial.report()", "the data report (printed above; data_report.txt)")
    message = re.sub(r"Fix: bk\.read_trial\(your_data\)\.?", "Fix: check the data file.", message)
    message = message.replace("pass the DataFrame", "save the result as CSV")
    return message


def _show_warning(message, category, filename, lineno, file=None, line=None):
    text = cli_message(str(message))
    print(f"bayes-ket: warning: {text}", file=file or sys.stderr)


# ---- analysis.toml ------------------------------------------------------------------------------
def load_config(path) -> dict:
    """Read and check an analysis.toml: known tables and keys, visit-window days as numbers,
    the data file relative to the config's folder."""
    import tomllib

    path = Path(path)
    if not path.exists():
        raise BayesKetError(f"No config file '{path}'. Fix: check the path, or write one with `bayes-ket init DATA`.")
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise BayesKetError(f"{path} is not valid TOML: {err}. Fix: correct that line "
                            "(strings in double quotes, tables as [name]).") from None
    unknown = sorted(set(config) - set(TABLES))
    if unknown:
        raise BayesKetError(f"{path}: unknown table(s) {unknown}; the tables are {list(TABLES)}. "
                            "Fix: rename or remove them.")
    for table, keys in (("data", DATA_KEYS), ("sampler", SAMPLER_KEYS), ("output", OUTPUT_KEYS), ("sweep", SWEEP_KEYS)):
        section = config.get(table, {})
        if not isinstance(section, dict):
            raise BayesKetError(f"{path}: '{table}' must be a table ([{table}]).")
        bad = sorted(set(section) - set(keys))
        if bad:
            raise BayesKetError(f"{path}: unknown key(s) {bad} in [{table}]; its keys are {list(keys)}.")
    for table in (*MAPPING_TABLES, "model"):
        if not isinstance(config.get(table, {}), dict):
            raise BayesKetError(f"{path}: '{table}' must be a table ([{table}]).")
    data = dict(config.get("data", {}))
    if "file" in data:
        file = Path(data["file"])
        data["file"] = str(file if file.is_absolute() else (path.parent / file))
    if "studies" in data and isinstance(data["studies"], str):
        studies = Path(data["studies"])
        data["studies"] = str(studies if studies.is_absolute() else (path.parent / studies))
    config["data"] = data
    config["visit_windows"] = visit_windows(config.get("visit_windows"), path)
    output = config.get("output", {})
    if "dir" in output and not Path(output["dir"]).is_absolute():
        output["dir"] = str(path.parent / output["dir"])
    config["_path"] = str(path)
    return config


def visit_windows(table, path="analysis.toml") -> dict | None:
    """[visit_windows] with string keys ("7" = [5, 9]) -> {7.0: (5.0, 9.0)}."""
    if not table:
        return None
    out = {}
    for key, window in table.items():
        try:
            day = float(key)
        except ValueError:
            raise BayesKetError(f"{path}: [visit_windows] key {key!r} is not a day. Fix: write the scheduled visit "
                                'day as a quoted number, e.g. "7" = [5, 9].') from None
        if not (isinstance(window, list) and len(window) == 2):
            raise BayesKetError(f"{path}: [visit_windows] \"{key}\" = {window!r} must be [lowest, highest], "
                                f'e.g. "{key}" = [{day - 2:g}, {day + 2:g}].')
        out[day] = (window[0], window[1])
    return out


def read_options(config: dict) -> dict:
    """read_trial keyword arguments from a loaded config."""
    data = {k: v for k, v in config.get("data", {}).items() if k != "file"}
    opts = {**data}
    for table in ("columns", "arm_labels", "reference_levels"):
        if config.get(table):
            opts[table] = dict(config[table])
    if config.get("visit_windows"):
        opts["visit_windows"] = config["visit_windows"]
    return opts


def fit_options(config: dict) -> tuple[str, dict]:
    """(model name, bk.fit keyword arguments) from a loaded config."""
    model = dict(config.get("model", {}))
    name = model.pop("name", "trajectory")
    if "moderators" in model and isinstance(model["moderators"], str):
        model["moderators"] = [m for m in model["moderators"].split(",") if m.strip()]
    opts = {**model, **config.get("sampler", {})}
    if config.get("priors"):
        opts["priors"] = dict(config["priors"])
    return name, opts


def _read(data_file, options: dict):
    import bayes_ket as bk

    return bk.read_trial(data_file, **options)


# ---- outputs --------------------------------------------------------------------------------------
def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _write_outputs(fit, out: Path, trial) -> tuple:
    """Write every output of a fit; a figure that cannot be drawn is reported, the others are still written."""
    import bayes_ket as bk

    out.mkdir(parents=True, exist_ok=True)
    written = []
    summary = fit.summary()
    summary.to_csv(out / "summary.csv", index=False)
    diag = fit.diagnostics()
    (out / "diagnostics.json").write_text(json.dumps(_json_safe(diag), indent=2))
    (out / "data_report.txt").write_text(str(trial.report()))
    (out / "priors.json").write_text(json.dumps(fit.priors, indent=2))
    written += ["summary.csv", "diagnostics.json", "data_report.txt", "priors.json"]
    figures = [("ppc.png", lambda p: fit.plot_ppc(p)), ("trajectories.png", lambda p: bk.plot_trajectories(trial, p))]
    if "effect" in fit.quantities:
        figures.append(("effect.png", lambda p: fit.plot_effect(p)))
        for m in fit.meta.get("moderators") or []:
            if "moderation" in fit.quantities:
                figures.append((f"moderation_{m}.png", lambda p, m=m: fit.plot_moderation(p, moderator=m)))
    import matplotlib.pyplot as plt

    for name, draw in figures:
        try:
            draw(out / name)
            written.append(name)
        except BayesKetError as err:
            print(f"bayes-ket: {name} not drawn: {cli_message(str(err))}", file=sys.stderr)
        finally:
            plt.close("all")
    fit.save(out / "fit.nc")
    written.append("fit.nc")
    return summary, diag, written


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:+.2f}" if x else "0.00"


def _truth_at(truth: dict | None, day: float):
    if not truth:
        return None
    for key in (day, float(day), str(day), f"{day:g}"):
        if key in truth:
            return float(truth[key])
    return None


def _truth_text(value: float | None, lower: float, upper: float) -> str:
    if value is None:
        return ""
    inside = "inside" if lower <= value <= upper else "OUTSIDE"
    return f"   truth {_fmt(value)} ({inside} the interval)"


def headline(fit, summary, diag, truth: dict | None = None) -> str:
    """Every headline quantity with its interval (and, for simulated data, the true value beside it)."""
    from .plots.effects import outcome_label

    ci = 95
    label = outcome_label(fit)
    lines = [repr(fit)]
    refs = fit.meta.get("moderator_reference", {})
    at = ", ".join(f"{m} = {v:.3g}" for m, v in refs.items())
    eff = summary[summary["quantity"] == "effect"]
    if len(eff) and "day" in eff and eff["day"].notna().all():
        lines.append(f"effect: {label}, ketamine - control (negative = fewer symptoms with ketamine)"
                     + (f", at {at} (mean over patients)" if at else ""))
        for _, r in eff.iterrows():
            day = float(r["day"])
            p = fit.prob("effect", "<", -2, day=day)
            lines.append(f"  day {day:>4g}: {_fmt(r['mean'])} points ({ci}% CrI {_fmt(r['lower'])} to {_fmt(r['upper'])}),"
                         f" P(benefit > 2 points) = {p:.2f}"
                         + _truth_text(_truth_at((truth or {}).get("effect_total"), day), r["lower"], r["upper"]))
    mod = summary[summary["quantity"] == "moderation"]
    if len(mod) and "day" in mod and mod["day"].notna().all():
        for m, rows in mod.groupby("moderator", sort=False):
            lines.append(f"moderation by {m}: change of the effect per {m} point (positive = weaker benefit with more {m})")
            for _, r in rows.iterrows():
                day = float(r["day"])
                lines.append(f"  day {day:>4g}: {_fmt(r['mean'])} points ({ci}% CrI {_fmt(r['lower'])} to "
                             f"{_fmt(r['upper'])}), P(weaker benefit) = {r['prob_positive']:.2f}"
                             + _truth_text(_truth_at((truth or {}).get("moderation_total") if m == "msm" else None, day),
                                           r["lower"], r["upper"]))
    for q, text in (("response_difference", "response difference (ketamine - control, share of patients)"),
                    ("nnt_response", "number needed to treat for one more response (median; upper bound inf when "
                                     "the response difference may be 0)")):
        rows = summary[summary["quantity"] == q]
        if len(rows) and "day" in rows:
            r = rows.loc[rows["day"].idxmax()]
            lines.append(f"{text}, day {float(r['day']):g}: {r['mean']:.2f} ({ci}% CrI {r['lower']:.2f} to {r['upper']:.2f})")
    shown = {k: v for k, v in diag.items() if k not in ("reasons",)}
    lines.append("diagnostics: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                             for k, v in shown.items()))
    if diag["reasons"]:
        lines.append("SAMPLING PROBLEMS (do not report these estimates before fixing them): " + "; ".join(diag["reasons"]))
    return "\n".join(lines)


def resolution_note(summary, truth: dict, seed: int = 0) -> str:
    """What a trial of this size can and cannot resolve, from the interval widths against the truth."""
    eff = summary[summary["quantity"] == "effect"]
    mod = summary[(summary["quantity"] == "moderation") & (summary["moderator"] == "msm")]
    if not len(eff) or not len(mod):
        return ""
    last = float(eff["day"].max())
    e = eff[eff["day"] == last].iloc[0]
    m = mod[mod["day"] == last].iloc[0]
    te = _truth_at(truth.get("effect_total"), last)
    tm = _truth_at(truth.get("moderation_total"), last)
    if te is None or tm is None:
        return ""
    e_width, m_width = e["upper"] - e["lower"], m["upper"] - m["lower"]
    clear = e["upper"] < 0 or e["lower"] > 0
    lines = [f"What this trial can resolve (day {last:g}, 95% intervals):",
             f"  effect: interval {e_width:.1f} points wide, true effect {te:+.2f}: "
             + ("the benefit is resolved (the interval excludes 0)." if clear else "the interval still includes 0.")]
    ratio = m_width / abs(tm) if tm else float("inf")
    lines.append(f"  moderation by MSM: interval {m_width:.2f} points per MSM point wide, {ratio:.0f} times the true "
                 f"moderation ({tm:+.2f})" + (": a trial of this size cannot resolve a moderation this small, nor be "
                                              "sure of its sign; a single draw can land on either side of 0."
                                              if ratio > 2 else "."))
    lines.append(f"  This is one simulated trial (seed {seed}); over other seeds (bayes-ket demo --seed N) the "
                 "estimates scatter around the truth.")
    return "\n".join(lines)


# ---- bayes-ket init ---------------------------------------------------------------------------------
#: normalised column name -> canonical column (the first hit wins)
NAME_GUESSES = {
    "patient": ("patient", "patient_id", "patientid", "subject", "subject_id", "subjectid", "subj", "id", "pid",
                "participant", "participant_id", "record_id", "case_id", "ptid", "pt_id"),
    "study": ("study", "study_id", "trial", "trial_id", "site", "centre", "center", "protocol"),
    "arm": ("arm", "group", "treatment", "treatment_group", "treatment_arm", "randomization", "randomisation",
            "randomised_to", "randomized_to", "condition", "drug", "allocation", "tx", "trt", "intervention"),
    "period": ("period", "crossover_period"),
    "day": ("day", "days", "study_day", "visit_day", "day_of_visit", "actual_day", "days_since_infusion",
            "assessment_date", "visit_date", "date", "time", "timepoint", "time_point"),
    "scheduled_day": ("visit", "scheduled_visit", "nominal_visit", "scheduled_day", "visit_label", "visit_name", "week"),
    "msm": ("msm", "msm_score", "msm_total", "maudsley", "maudsley_score", "maudsley_staging"),
    "madrs_total": ("madrs", "madrs_total", "madrs_score", "madrs_sum", "total_madrs", "madrs_tot"),
    "hrsd17_total": ("hamd", "ham_d", "hamd17", "ham_d_17", "hamd_17", "hrsd", "hrsd17", "hrsd_17", "hdrs", "hdrs17",
                     "hamd_total", "hrsd17_total"),
    "gad7_total": ("gad7", "gad_7", "gad7_total", "gad_7_total", "gad"),
    "bdi2_total": ("bdi", "bdi2", "bdi_ii", "bdi2_total"),
    "qids_sr16_total": ("qids", "qids_sr", "qids_sr16", "qids_sr16_total"),
    "phq9_total": ("phq9", "phq_9", "phq9_total"),
}
CONTROL_WORDS = ("plac", "pbo", "saline", "midaz", "control", "sham", "vehicle")
KETAMINE_WORDS = ("ketamine", "ket")


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def guess_columns(columns) -> tuple[dict, dict]:
    """({user column: canonical name}, {user wide base: canonical name}) by common export names."""
    from .data.reader import WIDE_COLUMN

    mapping, taken = {}, set()
    normed = {c: _norm(c) for c in columns}
    canonical_present = {n for n in normed.values()}
    for canonical, names in NAME_GUESSES.items():
        if canonical in canonical_present and canonical in {str(c) for c in columns}:
            taken.add(canonical)
            continue
        for name in names:
            hit = next((c for c, n in normed.items() if n == name and c not in mapping), None)
            if hit is not None and canonical not in taken:
                if str(hit) != canonical:
                    mapping[str(hit)] = canonical
                taken.add(canonical)
                break
    for c, n in normed.items():  # madrs item columns: "MADRS 3", "madrs_item_3", "MADRS3"
        m = re.fullmatch(r"madrs_?(?:item_?)?(\d{1,2})", n)
        if m and 1 <= int(m.group(1)) <= 10 and str(c) != f"madrs_{int(m.group(1))}":
            mapping[str(c)] = f"madrs_{int(m.group(1))}"
    bases = {}
    for c in columns:  # wide layout: <base>_d<day>
        m = WIDE_COLUMN.match(str(c))
        if m:
            base = m["column"]
            for canonical, names in NAME_GUESSES.items():
                if _norm(base) in names and base != canonical:
                    bases[base] = canonical
    return mapping, bases


def guess_arm_labels(labels) -> tuple[dict, list]:
    """({label: 1 or 0} guessed from the words in the label, [labels left for the user])."""
    from .data.arms import lookup

    builtin = lookup()
    guessed, unknown = {}, []
    for label in labels:
        key = str(label).strip().lower()
        if key in builtin:
            continue
        if any(w in key for w in CONTROL_WORDS):
            guessed[str(label)] = 0
        elif any(w in key for w in KETAMINE_WORDS) and not key.startswith(("es", "ar", "s-", "r-")):
            guessed[str(label)] = 1
        else:
            unknown.append(str(label))
    return guessed, unknown


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return f"{v:g}" if isinstance(v, float) else str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)


def init_config(data_file, read_opts: dict | None = None, out_dir: str = "bayes_ket_out") -> str:
    """The text of a commented analysis.toml for ``data_file``: columns mapped where their names
    are common export names, arm labels guessed from their words, visit windows proposed when the
    days cluster, and every other option present as a comment."""
    from .data import files

    read_opts = dict(read_opts or {})
    raw, _, notes = files.load(data_file, dict(read_opts))
    columns = [str(c) for c in raw.columns]
    mapping, bases = guess_columns(columns)
    arm_col = next((c for c, v in mapping.items() if v == "arm"), "arm" if "arm" in columns else None)
    arm_guess, arm_unknown = {}, []
    arm_values = []
    if arm_col is not None:
        arm_values = [v for v in raw[arm_col].dropna().unique().tolist()]
        arm_guess, arm_unknown = guess_arm_labels(arm_values)
    encoding = read_opts.get("encoding") or ("latin-1" if any("latin-1" in n for n in notes) else None)
    sep = read_opts.get("sep") or next((s for s, name in (( ";", "semicolon"), ("\t", "tab"), ("|", "'|'"))
                                        if any(n.startswith(f"{name}-separated") for n in notes)), None)
    decimal = read_opts.get("decimal") or ("," if any("decimal commas" in n for n in notes) else None)

    trial, error = None, None
    opts = {k: v for k, v in {"encoding": encoding, "sep": sep, "decimal": decimal,
                              "na_values": read_opts.get("na_values")}.items() if v is not None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            trial = _read(data_file, {"columns": {**mapping, **bases} or None,
                                      "arm_labels": arm_guess or None, **opts})
        except BayesKetError as err:
            error = cli_message(str(err))
    from .errors import BayesKetWarning

    read_warnings = [cli_message(str(w.message)) for w in caught if issubclass(w.category, BayesKetWarning)]
    proposal = (trial.schedule or {}).get("proposal") if trial is not None else None

    path = Path(data_file)
    L = [
        "# bayes-ket analysis: run it with   bayes-ket fit --config analysis.toml",
        f"# Written by `bayes-ket init {path.name}` from the file's columns. Check every line marked CHECK;",
        "# uncomment (remove the leading #) what applies. TOML: strings in double quotes, tables in [brackets].",
        "",
        "[data]",
        f"file = {_toml_value(path.name if path.parent == Path('.') else str(path))}"
        "    # relative to this file's folder",
    ]
    L.append(f"encoding = {_toml_value(encoding)}    # the file is not UTF-8" if encoding else
             '# encoding = "latin-1"          # when accents look wrong (default: UTF-8, latin-1 detected)')
    L.append(f"sep = {_toml_value(sep)}    # detected from the header line" if sep else
             '# sep = ";"                     # column separator (detected from the header line)')
    L.append(f'decimal = {_toml_value(decimal)}    # decimal commas (3,5 = 3.5) detected' if decimal else
             '# decimal = ","                 # decimal commas (detected when the separator is not a comma)')
    L += ['# na_values = [".", "NA", "-99"]  # extra codes for a missing value',
          '# date_origin = "infusion_date"   # with dates in the day column: the column holding day 0 '
          "(default: each patient's first assessment)",
          '# date_format = "%d/%m/%Y"        # non-ISO dates',
          '# visit_columns = ["weight"]      # non-score columns measured at each visit (others are patient-level)',
          '# studies = "studies.csv"         # a study table joined on the study column',
          ""]
    L += ["[columns]",
          "# your column = canonical name. Canonical: patient, study, arm, period, day (days since the infusion,",
          "# 0 = baseline; numbers, dates or labels like \"Week 1\"), scheduled_day (the nominal visit), madrs_total,",
          "# madrs_1..madrs_10, hrsd17_total, gad7_total, msm and any moderator (patient-level)."]
    if bases:
        L.append("# wide layout: a score per visit in columns <name>_d<day>; the name before _d<day> is mapped")
    for c in columns:
        canonical = mapping.get(c)
        if canonical is not None:
            L.append(f"{_toml_value(c)} = {_toml_value(canonical)}    # CHECK (guessed from the name)")
    for base, canonical in bases.items():
        L.append(f"{_toml_value(base)} = {_toml_value(canonical)}    # CHECK wide columns {base}_d<day>")
    from .data.reader import WIDE_COLUMN

    others = [c for c in columns if c not in mapping and not WIDE_COLUMN.match(c)]
    if others:
        L.append("# the other columns, kept as they are (rename one by uncommenting it):")
        for c in others:
            sample = ", ".join(str(v) for v in raw[c].dropna().unique()[:3])
            L.append(f"# {_toml_value(c)} = \"\"    # e.g. {sample}")
    L.append("")
    L.append("[arm_labels]")
    L.append("# your arm label = 1 (ketamine) or 0 (control). Read without help: ketamine, 1; placebo, saline,")
    L.append("# midazolam, control, 0. Every other label must be listed here.")
    for label, code in arm_guess.items():
        L.append(f"{_toml_value(label)} = {code}    # CHECK (guessed from the label)")
    for label in arm_unknown:
        L.append(f"# {_toml_value(label)} = 1    # CHECK: 1 if this is the ketamine arm, 0 if it is a control")
    L.append("")
    L.append("[visit_windows]")
    L.append('# "scheduled visit day" = [lowest, highest] actual day: maps actual days to visits.')
    if proposal:
        L.append("# PROPOSED from the data: the days cluster around a few visits (see the data report). CHECK them.")
        for day, (lo, hi) in proposal.items():
            L.append(f'"{day:g}" = [{lo:g}, {hi:g}]')
    else:
        L.append('# "0" = [0, 0]')
        L.append('# "7" = [5, 9]')
    L.append("")
    L.append("[reference_levels]")
    L.append('# column = "level": the reference (coded 0) of a labelled patient-level column, e.g. sex = "female"')
    L.append("")
    outcome = (trial.outcomes[0] if trial is not None and trial.outcomes else "madrs_total")
    mods = [m for m in (trial.moderators if trial is not None else []) if m == "msm"]
    other_mods = [m for m in (trial.moderators if trial is not None else []) if m != "msm"]
    L += ["[model]",
          'name = "trajectory"              # "trajectory" (total score over visits) or "items" (the 10 MADRS items)',
          f"outcome = {_toml_value(outcome)}",
          f"moderators = {_toml_value(mods)}" + (f"    # also available: {', '.join(other_mods)}" if other_mods else ""),
          'time = "visit"                   # "visit" (one mean per scheduled day), "linear" or "log"',
          "# remission_threshold = 10       # overrides the scale's remission threshold",
          "",
          "[priors]",
          "# prior name = number (names as in fit.priors, e.g. moderation_sigma = 6.0)",
          "",
          "[sampler]",
          "# draws = 1000                   # per chain; default: the model card's (trajectory 1000, items 2000)",
          "# tune = 500                     # warm-up per chain; default: the card's (trajectory 500, items 1000)",
          "chains = 4",
          "seed = 0",
          "",
          "[output]",
          f"dir = {_toml_value(out_dir)}",
          ""]
    if notes:
        L.append("# Reading notes: " + cli_message("; ".join(notes)))
    for text in read_warnings:
        L.append("# WARNING while reading with these settings (check it): " + text)
    if error:
        L.append("# The file could not be read with these settings yet:")
        L += [f"#   {line}" for line in error.splitlines()]
    elif trial is not None:
        L.append(f"# Read with these settings: {trial!r}")
    return "\n".join(L) + "\n"


# ---- main ----------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayes-ket", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="trajectory model on a simulated pooled two-RCT trial, estimates beside the truth")
    demo.add_argument("--out", default="bayes_ket_demo")
    demo.add_argument("--draws", type=int, help="draws per chain (default: the card's)")
    demo.add_argument("--tune", type=int, help="warm-up iterations per chain (default: the card's)")
    demo.add_argument("--chains", type=int, default=4)
    demo.add_argument("--seed", type=int, default=0, help="the simulation's seed (default 0)")

    init = sub.add_parser("init", help="write a commented analysis.toml from a data file's columns")
    init.add_argument("data")
    init.add_argument("--out", default="analysis.toml", help="where to write it (default analysis.toml)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    _read_flags(init)

    f = sub.add_parser("fit", help="fit a model: --config analysis.toml, or MODEL DATA --out DIR")
    f.add_argument("model", nargs="?", help="model card (trajectory, items, ...); with --config: [model] name")
    f.add_argument("data", nargs="?", help="data file in the canonical layout; with --config: [data] file")
    f.add_argument("--config", help="analysis.toml (bayes-ket init DATA writes one)")
    f.add_argument("--out", help="output folder (with --config default: [output] dir)")
    f.add_argument("--outcome")
    f.add_argument("--time")
    f.add_argument("--moderators", help="comma-separated; '' for none")
    f.add_argument("--draws", type=int)
    f.add_argument("--tune", type=int)
    f.add_argument("--chains", type=int)
    f.add_argument("--seed", type=int)
    _read_flags(f)

    s = sub.add_parser("sweep", help="prior-sensitivity sweep over a grid (JSON or TOML file)")
    s.add_argument("model", nargs="?")
    s.add_argument("data", nargs="?")
    s.add_argument("--config", help="analysis.toml: data, model and sampler of the base fit")
    s.add_argument("--grid", required=True, help="JSON or TOML: {prior name: [values]}")
    s.add_argument("--out", help="output folder (resumable)")
    s.add_argument("--scheduler")
    s.add_argument("--method", default="auto")
    s.add_argument("--draws", type=int)
    s.add_argument("--tune", type=int)
    s.add_argument("--chains", type=int)
    s.add_argument("--seed", type=int)
    _read_flags(s)
    return parser


def _read_flags(p) -> None:
    p.add_argument("--sep", help="column separator (default: detected)")
    p.add_argument("--decimal", help="decimal mark (default: detected)")
    p.add_argument("--encoding", help="file encoding (default: UTF-8, else latin-1)")
    p.add_argument("--na-values", dest="na_values", help="comma-separated extra missing-value codes")


def load_grid(path) -> dict | list:
    """A sweep grid from JSON or TOML: {prior: [values]} or a list of {prior: value} settings."""
    import tomllib

    path = Path(path)
    if not path.exists():
        raise BayesKetError(f"No grid file '{path}'. Fix: check --grid.")
    text = path.read_text()
    try:
        grid = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise BayesKetError(f"--grid {path}: cannot read it ({err}). Fix: write {{prior name: [values]}} "
                            "as JSON, or prior_name = [values] as TOML.") from None
    return grid.get("settings", grid) if isinstance(grid, dict) else grid


def _flag_read_options(args) -> dict:
    opts = {k: getattr(args, k) for k in READ_FLAGS if getattr(args, k, None) is not None}
    if "na_values" in opts:
        opts["na_values"] = [v for v in opts["na_values"].split(",")]
    return opts


def _resolve(args, need_out: bool = True):
    """(data file, read options, model name, fit options, out dir) from --config and/or the flags."""
    if args.config:
        config = load_config(args.config)
        data_file = args.data or config["data"].get("file")
        if data_file is None:
            raise BayesKetError(f"{args.config}: no data file. Fix: set file = \"your_export.csv\" in [data].")
        read_opts = {**read_options(config), **_flag_read_options(args)}
        model, opts = fit_options(config)
        model = args.model or model
        out = args.out or config.get("output", {}).get("dir")
    else:
        if not args.model or not args.data:
            raise BayesKetError("Give MODEL and DATA (bayes-ket fit trajectory data.csv --out DIR), or --config "
                                "analysis.toml (bayes-ket init DATA writes one).")
        data_file, read_opts, model, opts, out = args.data, _flag_read_options(args), args.model, {}, args.out
    for name in ("outcome", "time", "draws", "tune", "chains", "seed"):
        if getattr(args, name, None) is not None:
            opts[name] = getattr(args, name)
    if getattr(args, "moderators", None) is not None:
        opts["moderators"] = [m for m in args.moderators.split(",") if m]
    if need_out and not out:
        raise BayesKetError("No output folder. Fix: pass --out DIR (or dir = \"...\" in [output] of analysis.toml).")
    return data_file, read_opts, model, opts, out


def main(argv=None) -> int:
    import bayes_ket as bk

    args = _parser().parse_args(argv)
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        if args.command == "demo":
            _demo(bk, args)
        elif args.command == "init":
            out = Path(args.out)
            if out.exists() and not args.force:
                raise BayesKetError(f"{out} exists. Fix: pass --force to overwrite it, or --out another.toml.")
            text = init_config(args.data, _flag_read_options(args))
            if out.parent != Path(".") and not Path(args.data).is_absolute():
                text = text.replace(f'file = "{Path(args.data).name}"',
                                    f'file = {_toml_value(str(Path(args.data).resolve()))}', 1)
            out.write_text(text, encoding="utf-8")
            print(text)
            print(f"wrote {out}: check the lines marked CHECK, then run  bayes-ket fit --config {out}")
        elif args.command == "fit":
            data_file, read_opts, model, opts, out = _resolve(args)
            trial = _read(data_file, read_opts)
            print(trial.report())
            fit = bk.fit(model, trial, **opts)
            summary, diag, written = _write_outputs(fit, Path(out), trial)
            print(headline(fit, summary, diag))
            print(f"wrote {out}/: {', '.join(written)}")
        else:
            from .sweeps import sweep

            data_file, read_opts, model, opts, out = _resolve(args, need_out=False)
            trial = _read(data_file, read_opts)
            table = sweep(model, trial, grid=load_grid(args.grid), out=out, scheduler=args.scheduler,
                          method=args.method, **opts)
            if out:
                Path(out).mkdir(parents=True, exist_ok=True)
                table.to_csv(Path(out) / "sweep.csv", index=False)
            print(table.head(20).to_string())
    except BayesKetError as err:
        message = cli_message(str(err))
        if "analysis.toml" in message and not getattr(args, "config", None) and args.command != "init":
            message += ("\n  (`bayes-ket init DATA` writes an analysis.toml from your file's columns; then run "
                        "`bayes-ket fit --config analysis.toml`.)")
        print(f"bayes-ket: {message}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = previous
    return 0


def _demo(bk, args) -> None:
    trial = bk.simulate("pooled_rct", seed=args.seed)
    print("Demo: the trajectory model on a simulated pooled two-RCT trial (154 adults with TRD, ketamine vs control,")
    print(f"MADRS to day 14, moderated by MSM; simulation seed {args.seed}). The truth is known, so each estimate is")
    print("printed beside it.\n")
    print(trial.report())
    fit = bk.fit("trajectory", trial, draws=args.draws, tune=args.tune, chains=args.chains, seed=0)
    summary, diag, written = _write_outputs(fit, Path(args.out), trial)
    print(headline(fit, summary, diag, truth=trial.truth))
    note = resolution_note(summary, trial.truth, args.seed)
    if note:
        print(note)
    print(f"wrote {args.out}/: {', '.join(written)}")


if __name__ == "__main__":
    sys.exit(main())

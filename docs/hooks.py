"""MkDocs hooks: pages generated from the package, so a new family or public name gets its page.

- the API reference (``api.md``): an entry for every name in ``bayes_ket.__all__``;
- one page per registered model family, from the family registry.

A family registered in ``bayes_ket.families`` gets ``families/<name>.md`` in the "Model
families" section: its module docstring (the model's math and its summary quantities,
rendered by mkdocstrings) and the priors and settings of the cards that use it. A
hand-written ``docs/families/<name>.md`` replaces the generated page.
"""

from __future__ import annotations

from pathlib import Path

SECTION = "Model families"


def _families():
    from bayes_ket import cards
    from bayes_ket.families import get, names

    by_family = {}
    for card_name in cards.available():
        card = cards.load_card(card_name)
        by_family.setdefault(card.family, []).append(card)
    return [(name, type(get(name)).__module__, by_family.get(name, [])) for name in names()]


def _page(name: str, module: str, cards) -> str:
    lines = [f"# Model family `{name}`", ""]
    if cards:
        shown = ", ".join(f'`"{c.name}"`' for c in cards)
        lines += [f"Fitted with `bk.fit({cards[0].name!r}, trial, ...)` (card{'s' if len(cards) > 1 else ''} {shown}; "
                  f"on the command line `name = \"{cards[0].name}\"` in `[model]` of analysis.toml).", ""]
    lines += ["## The model and its summary quantities", "",
              f"::: {module}", "    options:", "      members: false", "      show_root_heading: false",
              "      show_root_toc_entry: false", ""]
    for card in cards:
        lines += [f"## Card `{card.name}`: priors", "",
                  "Names as in `fit.priors`; override one with `priors={name: number}` (analysis.toml: `[priors]`). "
                  "The number used is `value` times `scale`: the outcome's range (`range`), the range per span of the "
                  "time basis (`range_per_span`), or 1 (`one`).", "",
                  "| prior | value | scale | meaning |", "| --- | --- | --- | --- |"]
        for prior, spec in card.priors.items():
            doc = str(spec.get("doc", "")).replace("|", "\\|")
            lines.append(f"| `{prior}` | {spec['value']} | {spec.get('scale', 'one')} | {doc} |")
        if card.settings:
            lines += ["", f"Settings of the card `{card.name}`:", "", "| setting | value |", "| --- | --- |"]
            for key, value in card.settings.items():
                lines.append(f"| `{key}` | `{value}` |")
        lines.append("")
    return "\n".join(lines)


def on_config(config, **kwargs):
    """Fill the "Model families" section of the navigation with every registered family."""
    pages = [{name: f"families/{name}.md"} for name, _, _ in _families()]
    generated = {p[name] for p in pages for name in p}
    for entry in config["nav"] or []:
        if isinstance(entry, dict) and SECTION in entry:
            keep = [p for p in entry[SECTION] if not (isinstance(p, dict) and set(p.values()) & generated)]
            entry[SECTION] = keep + pages
    return config


def on_files(files, config, **kwargs):
    from mkdocs.structure.files import File

    for name, module, cards in _families():
        uri = f"families/{name}.md"
        if files.get_file_from_path(uri) is None and not (Path(config["docs_dir"]) / uri).exists():
            files.append(File.generated(config, uri, content=_page(name, module, cards)))
    if files.get_file_from_path("api.md") is None:
        files.append(File.generated(config, "api.md", content=api_page()))
    return files


#: API reference groups, in page order; a public name in no group goes to "Other"
API_GROUPS = {
    "Data": ("read_trial", "TrialData", "simulate", "datasets", "scales"),
    "Models": ("fit", "Analysis", "cards"),
    "Results": ("Fit", "load_fit", "compare"),
    "Sensitivity": ("sweep", "sensitivity"),
    "Figures": ("plot_trajectories", "plot_sweep"),
    "Errors and warnings": ("BayesKetError", "BayesKetWarning"),
}
#: where mkdocstrings finds the names that ``bayes_ket`` binds itself (not through its lazy table)
DIRECT = {"BayesKetError": "bayes_ket.errors.BayesKetError", "BayesKetWarning": "bayes_ket.errors.BayesKetWarning",
          "sensitivity": "bayes_ket.sensitivity.sensitivity", "simulate": "bayes_ket.simulate.simulate"}


def api_targets() -> dict:
    """{public name: dotted path of its object}, for every name in ``bayes_ket.__all__``."""
    import bayes_ket

    out = {}
    for name in bayes_ket.__all__:
        if name in DIRECT:
            out[name] = DIRECT[name]
        elif name in bayes_ket._LAZY:
            module, attribute = bayes_ket._LAZY[name]
            out[name] = "bayes_ket" + module + (f".{attribute}" if attribute else "")
        else:
            value = getattr(bayes_ket, name)
            out[name] = f"{getattr(value, '__module__', 'bayes_ket')}.{getattr(value, '__qualname__', name)}"
    return out


def api_page() -> str:
    targets = api_targets()
    lines = ["# API reference", "",
             "Every public name of `bayes_ket` (`import bayes_ket as bk`), generated from `bayes_ket.__all__`.", ""]
    grouped = {g: [n for n in names if n in targets] for g, names in API_GROUPS.items()}
    rest = sorted(set(targets) - {n for names in grouped.values() for n in names})
    if rest:
        grouped["Other"] = rest
    for group, names in grouped.items():
        lines += [f"## {group}", ""]
        for name in names:
            lines += [f"### `bk.{name}`", "", f"::: {targets[name]}", "    options:", "      show_root_heading: false",
                      "      heading_level: 4", ""]
    return "\n".join(lines)

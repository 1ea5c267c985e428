"""The ``arm`` column: labels -> 1 (ketamine) / 0 (control), and the data's own arm names.

Read without help, case-insensitively: "ketamine" and 1 -> 1; "placebo", "saline",
"midazolam", "control" and 0 -> 0 (``schema.ARM_LABELS``). Every other label
("Esketamine", "drug", "A") needs ``arm_labels={"label": 1 or 0}``: the error names the
labels. A file with two distinct labels that land in one arm is an error too (it shows
the mapping), since that is almost always a mislabelled control arm.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import BayesKetError, offending
from .schema import ARM_LABELS, ARM_NAMES
from .validate import values, where

CODES = {1: 1, 0: 0, "1": 1, "0": 0, "ketamine": 1, "control": 0}


def label_key(v) -> str | None:
    """The lower-case label a value is looked up by (whole numbers as '1', '0')."""
    if pd.isna(v):
        return None
    if isinstance(v, (bool, np.bool_, int, np.integer, float, np.floating)) and float(v) % 1 == 0:
        return str(int(v))
    return str(v).strip().lower()


def lookup(arm_labels: Mapping | None = None) -> dict[str, int]:
    """Lower-case label -> 1 / 0: the built-in labels, then ``arm_labels`` (which win)."""
    table = {label: code for code, labels in ARM_LABELS.items() for label in labels}
    for label, code in (arm_labels or {}).items():
        key = code.strip().lower() if isinstance(code, str) else code
        if isinstance(key, bool) or key not in CODES:
            raise BayesKetError(
                f"arm_labels maps {label!r} to {code!r}; map each label to 1 (ketamine) or 0 (control)."
            )
        table[label_key(label)] = CODES[key]
    return table


def read_arm(frame: pd.DataFrame, arm_labels: Mapping | None = None) -> tuple[pd.Series, dict[int, str]]:
    """(arm as float 1/0 with NaN where missing, {code: the data's own name})."""
    table = lookup(arm_labels)
    keys = frame["arm"].map(label_key)
    out = keys.map(table).astype(float)
    bad = keys.notna() & out.isna()
    if bad.any():
        unknown = sorted({str(v).strip() for v in frame["arm"][bad]})
        example = ", ".join(f"{u!r}: ..." for u in unknown[:3])
        raise BayesKetError(
            f"Column 'arm' has labels that are not read without help: {values(frame['arm'], bad)} on "
            f"{where(frame, bad)}. Read as ketamine (1): ketamine, 1; as control (0): placebo, saline, midazolam, "
            f"control, 0 (any case). Fix: pass arm_labels={{{example}}}, each 1 (ketamine) or 0 (control)."
        )
    distinct = {k: code for k, code in zip(keys, out) if k is not None}
    if len(distinct) == 2 and len(set(distinct.values())) == 1:
        shown = ", ".join(f"{_spelling(frame['arm'], keys, k)!r} -> {int(c)}" for k, c in sorted(distinct.items()))
        raise BayesKetError(
            f"Column 'arm' has two labels but every row lands in one arm ({shown}). Fix: map the control label "
            "to 0 (and ketamine to 1) with arm_labels=, or drop the 'arm' column for a single-arm cohort."
        )
    return out, arm_names(frame["arm"], keys, out)


def _spelling(raw: pd.Series, keys: pd.Series, key: str) -> str:
    """The most common spelling of a label in the data."""
    return str(raw[keys == key].astype(str).str.strip().value_counts().index[0])


def arm_names(raw: pd.Series, keys: pd.Series, codes: pd.Series) -> dict[int, str]:
    """{1: name, 0: name} from the data's labels (most common first, joined by '/'); the
    default names "ketamine" / "control" for numeric codes."""
    names = {}
    for code in (1, 0):
        mine = keys[codes == code].dropna()
        labels = [k for k in mine.value_counts().index if k not in ("1", "0")]
        if labels:
            names[code] = "/".join(_spelling(raw, keys, k) for k in labels)
        elif len(mine):
            names[code] = ARM_NAMES[code]
    return names

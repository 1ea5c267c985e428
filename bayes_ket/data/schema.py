"""The canonical long layout (API.md, "The canonical frame"): names and ranges."""

MADRS_ITEM_COLUMNS = tuple(f"madrs_{i}" for i in range(1, 11))
ITEM_RANGE = (0, 6)

#: outcome column -> (min, max) of the total score
TOTAL_RANGES = {
    "madrs_total": (0, 60),
    "gad7_total": (0, 21),
    "hrsd17_total": (0, 52),
}
OUTCOMES = tuple(TOTAL_RANGES)

ID_COLUMNS = ("patient", "study", "arm", "period", "day")
REQUIRED_COLUMNS = ("patient", "day")
#: columns that are bookkeeping, not moderators
NON_MODERATOR_COLUMNS = set(ID_COLUMNS) | set(MADRS_ITEM_COLUMNS) | set(OUTCOMES) | {
    "madrs_converted",
    "source_row",
    "hamd6_total",  # visit-level HAM-D 6 (ketamine_moa), not a moderator
}

ARM_LABELS = {
    1: ("ketamine", "drug", "d", "1", "k", "active", "esketamine", "treatment"),
    0: ("placebo", "saline", "midazolam", "control", "p", "0", "c", "sham"),
}
ARM_NAMES = {1: "ketamine", 0: "control"}

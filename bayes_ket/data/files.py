"""Reading a user's file: CSV/TSV (encoding, separator and decimal comma detected) or Parquet.

CSV rules, each reported as a note when it applies:
- encoding: UTF-8 (a byte-order mark, as Excel writes, is dropped); a file that is not
  valid UTF-8 is read as latin-1. ``encoding=`` overrides.
- separator: the most frequent of ``,`` ``;`` tab and ``|`` in the header line.
  ``sep=`` overrides (a .tsv file is tab separated).
- decimal comma: with a separator other than ``,``, fields such as ``3,5`` mean 3.5 when
  no field uses a decimal point. ``decimal=`` overrides.
Every other keyword (``na_values=``, ``skiprows=``, ...) goes to ``pandas.read_csv``.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pandas as pd

from ..errors import BayesKetError, offending

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
SEPARATORS = (",", ";", "\t", "|")
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "'|'"}
DECIMAL_COMMA = re.compile(r"^\s*\"?-?\d+,\d+\"?\s*$")
DECIMAL_POINT = re.compile(r"^\s*\"?-?\d*\.\d+\"?\s*$")


def load(source, options: dict) -> tuple[pd.DataFrame, str, list[str]]:
    """(raw DataFrame, source name, notes) from a path or a DataFrame."""
    if isinstance(source, pd.DataFrame):
        if options:
            raise BayesKetError(
                f"Options {offending(options)} are for reading files; the source is a DataFrame. Fix: drop them."
            )
        return source.reset_index(drop=True), "DataFrame", []
    if not isinstance(source, (str, os.PathLike)):
        raise BayesKetError(f"source must be a file path or a pandas DataFrame, not {type(source).__name__}.")
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise BayesKetError(
            f"Cannot read '{path.name}': known file types are {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}. "
            "Fix: save it as CSV or Parquet, or read it with pandas (e.g. pandas.read_excel) and pass the DataFrame."
        )
    if not path.exists():
        raise BayesKetError(f"No file '{path}'. Fix: check the path.")
    if path.stat().st_size == 0:
        raise BayesKetError(f"File '{path}' is empty (0 bytes). Fix: export the data again; the file holds nothing.")
    if suffix in PARQUET_SUFFIXES:
        return _pandas(pd.read_parquet, path, options), str(path), []
    frame, notes = read_csv(path, dict(options))
    return frame, str(path), notes


def read_csv(path: Path, options: dict) -> tuple[pd.DataFrame, list[str]]:
    notes = []
    data = path.read_bytes()
    encoding = options.pop("encoding", None)
    if encoding is None:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
            notes.append("the file is not valid UTF-8: read as latin-1 (pass encoding= if labels look wrong)")
    else:
        try:
            text = data.decode(encoding)
        except (LookupError, UnicodeDecodeError) as err:
            raise BayesKetError(f"Cannot decode '{path.name}' as {encoding!r}: {err}. Fix: pass the file's encoding=.") from None
    if not text.strip():
        raise BayesKetError(f"File '{path}' holds only blank lines. Fix: export the data again.")
    lines = [line for line in text.splitlines() if line.strip()]
    sep = options.pop("sep", options.pop("delimiter", None))
    if sep is None:
        sep = "\t" if path.suffix.lower() == ".tsv" else sniff_separator(lines[0])
        if sep not in (",", "\t") or (sep == "\t" and path.suffix.lower() != ".tsv"):
            notes.append(f"{SEPARATOR_NAMES[sep]}-separated file (separator detected from the header line)")
    if "decimal" not in options and sep != ",":
        if has_decimal_comma(lines[1:200], sep):
            options["decimal"] = ","
            notes.append("decimal commas read as decimal points (e.g. 3,5 = 3.5); pass decimal='.' if wrong")
    return _pandas(pd.read_csv, io.StringIO(text), {"sep": sep, **options}, name=path.name), notes


def sniff_separator(header: str) -> str:
    """The most frequent candidate separator in the header line (``,`` when none appears)."""
    counts = {s: header.count(s) for s in SEPARATORS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def has_decimal_comma(lines: list[str], sep: str) -> bool:
    """Some fields look like 3,5 and none like 3.5."""
    fields = [f for line in lines for f in line.split(sep)]
    return any(DECIMAL_COMMA.match(f) for f in fields) and not any(DECIMAL_POINT.match(f) for f in fields)


def _pandas(reader, target, options: dict, name=None):
    try:
        return reader(target, **options)
    except pd.errors.EmptyDataError:
        raise BayesKetError(f"File '{name or target}' has no columns. Fix: export the data again with a header line.") from None
    except (pd.errors.ParserError, ValueError, TypeError, OSError) as err:
        raise BayesKetError(
            f"pandas could not read '{name or target}' with options {options}: {err}. "
            "Fix: check the options (sep=, decimal=, encoding=, na_values= go to pandas), or read the file "
            "with pandas yourself and pass the DataFrame."
        ) from None

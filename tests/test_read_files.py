"""read_trial on real exports: empty files, encodings, separators, decimal commas, missing codes."""

import numpy as np
import pandas as pd
import pytest

from bayes_ket import read_trial
from bayes_ket.errors import BayesKetError

ROWS = [("P1", "ketamine", 0, 30, "Café Nord", "41.5"), ("P1", "ketamine", 7, 14, "Café Nord", "41.5"),
        ("P2", "placebo", 0, 28, "Süd", "38.0"), ("P2", "placebo", 7, 25, "Süd", "38.0")]
HEADER = ("patient", "arm", "day", "madrs_total", "site", "age")


def write(path, rows=ROWS, sep=",", decimal=".", encoding="utf-8", header=HEADER):
    lines = [sep.join(header)] + [sep.join(str(v).replace(".", decimal) for v in r) for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def test_zero_byte_file(tmp_path):
    # pandas raised EmptyDataError ("No columns to parse from file")
    (tmp_path / "t.csv").write_bytes(b"")
    with pytest.raises(BayesKetError, match=r"empty \(0 bytes\).*Fix:"):
        read_trial(tmp_path / "t.csv")


def test_blank_and_header_only_files(tmp_path):
    (tmp_path / "blank.csv").write_text("\n\n")
    with pytest.raises(BayesKetError, match="only blank lines"):
        read_trial(tmp_path / "blank.csv")
    (tmp_path / "head.csv").write_text("patient,day,madrs_total\n")
    with pytest.raises(BayesKetError, match="No rows.*no rows"):
        read_trial(tmp_path / "head.csv")


def test_latin1_file_falls_back_with_a_note(tmp_path):
    # pandas raised UnicodeDecodeError
    t = read_trial(write(tmp_path / "t.csv", encoding="latin-1"))
    assert any("latin-1" in n for n in t.notes)
    assert t.codings["site"].levels == ("Café Nord", "Süd") and "latin-1" in str(t.report())
    assert read_trial(write(tmp_path / "u.csv")).notes == []  # UTF-8: no note


def test_explicit_encoding(tmp_path):
    path = write(tmp_path / "t.csv", encoding="cp1252")
    assert read_trial(path, encoding="cp1252").codings["site"].levels == ("Café Nord", "Süd")
    with pytest.raises(BayesKetError, match="Cannot decode.*'ascii'.*encoding="):
        read_trial(path, encoding="ascii")


def test_byte_order_mark_is_dropped(tmp_path):
    # Excel's UTF-8 export starts with a BOM: the first column was read as '\ufeffpatient'
    path = write(tmp_path / "t.csv", encoding="utf-8-sig")
    assert "patient" in read_trial(path).frame


def test_semicolon_and_decimal_comma_detected(tmp_path):
    # pandas read one column "patient;arm;day;..." -> "Required column 'patient' is missing"
    t = read_trial(write(tmp_path / "t.csv", sep=";", decimal=","))
    assert t.frame["age"].tolist() == [41.5, 41.5, 38.0, 38.0]
    assert any("semicolon" in n for n in t.notes) and any("decimal commas" in n for n in t.notes)
    plain = read_trial(write(tmp_path / "p.csv", rows=[r[:5] + ("41",) for r in ROWS], sep=";"))
    assert plain.frame["age"].tolist() == [41.0] * 4 and not any("decimal" in n for n in plain.notes)


def test_separator_and_decimal_pass_through(tmp_path):
    path = write(tmp_path / "t.csv", sep="|", decimal=",")
    t = read_trial(path, sep="|", decimal=",")
    assert t.frame["age"].tolist() == [41.5, 41.5, 38.0, 38.0] and not any("separator" in n for n in t.notes)
    tab = read_trial(write(tmp_path / "t.txt", sep="\t"))
    assert any("tab" in n for n in tab.notes) and len(tab.frame) == 4


def test_quoted_decimal_commas_name_the_fix(tmp_path):
    (tmp_path / "t.csv").write_text('patient,day,madrs_total\nP1,0,"30,5"\nP1,7,"12,0"\n')
    with pytest.raises(BayesKetError, match=r"'madrs_total'.*30,5.*decimal=','"):
        read_trial(tmp_path / "t.csv")


def test_missing_value_codes_name_na_values(tmp_path):
    (tmp_path / "t.csv").write_text("patient,day,madrs_total\nP1,0,30\nP1,7,.\n")
    with pytest.raises(BayesKetError, match=r"'madrs_total'.*na_values=\['\.'\]"):
        read_trial(tmp_path / "t.csv")
    assert len(read_trial(tmp_path / "t.csv", na_values=["."]).excluded) == 1


def test_bad_pandas_option_is_a_clear_error(tmp_path):
    path = write(tmp_path / "t.csv")
    with pytest.raises(BayesKetError, match="pandas could not read.*options"):
        read_trial(path, no_such_option=1)
    (tmp_path / "ragged.csv").write_text("patient,day,madrs_total\nP1,0,30\nP1,7,12,5,6\n")
    with pytest.raises(BayesKetError, match="pandas could not read 'ragged.csv'"):
        read_trial(tmp_path / "ragged.csv")

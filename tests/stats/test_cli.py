"""``python -m analysis estimate`` end to end on files, including every bad-input case."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.cli import main
from tests.stats.r_cases import FIXTURES, load_cases

APISTRAT = FIXTURES / "data" / "apistrat.csv"
DESIGN = ["--weights", "pw", "--strata", "stype", "--fpc", "fpc"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["estimate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_csv_output_equals_the_r_reference(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    out_file = tmp_path / "out.csv"
    code, _, err = run(capsys, str(APISTRAT), *DESIGN, "--mean", "api00", "--by", "stype",
                       "--output", str(out_file))
    assert code == 0, err
    table = pd.read_csv(out_file, dtype={"stype": str})
    assert list(table.columns) == ["stype", "statistic", "variable", "estimate", "se", "ci_low",
                                   "ci_high", "df", "deff", "n", "n_eff", "flag"]
    case = next(c for c in load_cases("core") if c["id"] == "strat_mean_by_stype")
    for row in case["rows"]:
        mine = table[table["stype"] == row["domain"]["stype"]].iloc[0]
        for field in ("estimate", "se", "ci_low", "ci_high", "deff"):
            np.testing.assert_allclose(mine[field], row[field], rtol=1e-12, atol=0)


def test_every_statistic_and_format(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = [str(APISTRAT), *DESIGN, "--mean", "api00", "--total", "enroll",
            "--ratio", "api00/api99", "--prop", "sch.wide=Yes", "--ci", "beta"]
    code, out, err = run(capsys, *args, "--format", "json")
    assert code == 0, err
    records = json.loads(out)
    assert [r["statistic"] for r in records] == ["total", "mean", "ratio", "prop"]
    xlsx = tmp_path / "out.xlsx"
    code, _, err = run(capsys, *args, "--format", "xlsx", "--output", str(xlsx))
    assert code == 0, err
    back = pd.read_excel(xlsx)
    np.testing.assert_allclose(back["estimate"], [r["estimate"] for r in records], rtol=1e-15)
    design = analysis.SurveyDesign.from_frame(pd.read_csv(APISTRAT), strata="stype",
                                              weights="pw", fpc="fpc")
    beta = analysis.prop(design, "sch.wide", "Yes").confint(method="beta")[0, 0]
    np.testing.assert_allclose([records[3]["ci_low"], records[3]["ci_high"]], beta, rtol=1e-15)


def test_parquet_and_xlsx_inputs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    frame = pd.read_csv(APISTRAT)
    frame.to_parquet(tmp_path / "d.parquet")
    frame.to_excel(tmp_path / "d.xlsx", index=False)
    outs = []
    for name in ("d.parquet", "d.xlsx"):
        code, out, err = run(capsys, str(tmp_path / name), *DESIGN, "--mean", "api00",
                             "--format", "json")
        assert code == 0, err
        outs.append(json.loads(out)[0]["se"])
    assert outs[0] == pytest.approx(outs[1], rel=1e-12)


def test_df_inf_gives_normal_quantiles(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(APISTRAT), *DESIGN, "--mean", "api00", "--df", "inf",
                       "--format", "json")
    row = json.loads(out)[0]
    assert code == 0
    assert (row["ci_high"] - row["estimate"]) / row["se"] == pytest.approx(1.959963984540054)


def bad_inputs(tmp_path: Path) -> list[tuple[list[str], str]]:
    strat = pd.read_csv(APISTRAT)
    nonnum = strat.assign(pw=strat["pw"].astype(object))
    nonnum.loc[3, "pw"] = "abc"
    nonnum.to_csv(tmp_path / "nonnum.csv", index=False)
    strat.assign(pw=0.0).to_csv(tmp_path / "zero.csv", index=False)
    missing = strat.copy()
    missing.loc[[4, 9], "stype"] = None
    missing.to_csv(tmp_path / "missing_strata.csv", index=False)
    strat.assign(empty=np.nan).to_csv(tmp_path / "allna.csv", index=False)
    (tmp_path / "latin1.csv").write_bytes("name,pw\nHà Giang,1\n".encode("cp1258"))
    (tmp_path / "broken.csv").write_text('a,b\n1,"2\n3,4,5,6\n', encoding="utf-8")
    (tmp_path / "data.txt.gz").write_bytes(b"\x1f\x8b")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    p = str(tmp_path)
    return [
        ([f"{p}/nonnum.csv", *DESIGN, "--mean", "api00"], "non-numeric values at rows 4"),
        ([f"{p}/zero.csv", "--weights", "pw", "--strata", "stype", "--mean", "api00"],
         "Every weight in 'pw' is zero"),
        ([f"{p}/missing_strata.csv", *DESIGN, "--mean", "api00"],
         "Missing stratum values in column 'stype' at rows 5, 10"),
        ([f"{p}/allna.csv", *DESIGN, "--mean", "empty"], "'empty' has no values"),
        ([str(APISTRAT), "--weights", "pw", "--strata", "dnum", "--mean", "api00"],
         "only one PSU at stage 1"),
        ([str(APISTRAT), *DESIGN, "--mean", "nope"], "not in the data: nope"),
        ([str(APISTRAT), "--weights", "nope", "--mean", "api00"], "not in the data: nope"),
        ([f"{p}/latin1.csv", "--mean", "pw"], "not UTF-8"),
        ([f"{p}/broken.csv", "--mean", "a"], "not a well-formed CSV"),
        ([f"{p}/data.txt.gz", "--mean", "a"], "use a .csv, .xlsx or .parquet file"),
        ([f"{p}/empty.csv", "--mean", "a"], "is empty"),
        ([f"{p}/nowhere.csv", "--mean", "a"], "File not found"),
        ([str(APISTRAT), *DESIGN], "Nothing to estimate"),
        ([str(APISTRAT), *DESIGN, "--prop", "sch.wide"], "--prop needs COL=VALUE"),
        ([str(APISTRAT), *DESIGN, "--ratio", "api00"], "--ratio needs NUM/DEN"),
        ([str(APISTRAT), *DESIGN, "--mean", "api00", "--level", "95"], "--level must be"),
        ([str(APISTRAT), *DESIGN, "--mean", "api00", "--df", "many"], "--df must be"),
        ([str(APISTRAT), *DESIGN, "--mean", "api00", "--format", "xlsx"], "needs --output"),
        ([str(APISTRAT), *DESIGN, "--mean", "api00", "--margin", "stype:x.csv"],
         "--margin needs --calibrate"),
    ]


def test_bad_inputs_print_one_line_and_exit_1(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    for argv, message in bad_inputs(tmp_path):
        code, out, err = run(capsys, *argv)
        assert code == 1, (argv, err)
        assert out == ""
        assert err.startswith("error: "), err
        assert err.count("\n") == 1, err
        assert message in err, (message, err)


def test_help_documents_options_with_an_example() -> None:
    result = subprocess.run([sys.executable, "-m", "analysis", "estimate", "--help"],
                            capture_output=True, text=True, check=True)
    for option in ("--weights", "--strata", "--psu", "--fpc", "--nest", "--lonely-psu",
                   "--mean", "--total", "--prop", "--sipas", "--by", "--ci", "--level", "--df",
                   "--variance", "--replicates", "--seed", "--calibrate", "--margin",
                   "--format", "--output", "examples:"):
        assert option in result.stdout, option


def test_usage_error_exits_2() -> None:
    result = subprocess.run([sys.executable, "-m", "analysis", "estimate", "x.csv", "--ci",
                             "wilson"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_sipas_by_commune_equals_the_r_reference(capsys: pytest.CaptureFixture[str]) -> None:
    """The command line's --sipas numbers are R survey's (svyratio / svytotal + svycontrast)."""
    case = next(c for c in load_cases("sipas") if c["id"] == "sipas_taylor")
    code, out, err = run(capsys, str(FIXTURES / "data" / "sipas.csv"), "--weights", "weight",
                         "--strata", "province", "--psu", "centre", "--sipas", "--by", "commune",
                         "--format", "json")
    assert code == 0, err
    table = pd.DataFrame(json.loads(out))
    rows = [r for r in case["rows"] if r["level"] == "commune" and r["se"] > 1e-12]
    assert len(rows) > 200
    for row in rows:
        mine = table[(table["commune"] == row["domain"]["commune"])
                     & (table["variable"] == row["variable"])].iloc[0]
        for field in ("estimate", "se", "ci_low", "ci_high", "deff", "df"):
            np.testing.assert_allclose(mine[field], row[field], rtol=1e-9, atol=0,
                                       err_msg=f"{row['domain']} {row['variable']} {field}")
        assert mine["flag"] in ("ok", "review", "suppress")


def _compare_rows(case: dict, table: pd.DataFrame, fields: tuple[str, ...]) -> None:
    for row in case["rows"]:
        mine = table[table["variable"] == row["variable"]].iloc[0]
        for field in fields:
            np.testing.assert_allclose(mine[field], row[field], rtol=1e-9, atol=0,
                                       err_msg=f"{case['id']} {row['variable']} {field}")


def test_calibrate_rake_with_margin_files_equals_r(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    case = next(c for c in load_cases("calibration") if c["id"] == "rake_clus1_mean")
    argv = [str(FIXTURES / "data" / "apiclus1.csv"), "--psu", "dnum", "--weights", "pw",
            "--fpc", "fpc", "--mean", "api00", "--mean", "api99", "--calibrate", "rake"]
    for margin in case["steps"][0]["margins"]:
        (col,) = margin["columns"]
        path = tmp_path / f"{col}.csv"
        pd.DataFrame(margin["table"]).to_csv(path, index=False)
        argv += ["--margin", f"{col}:{path}"]
    code, out, err = run(capsys, *argv, "--format", "json")
    assert code == 0, err
    _compare_rows(case, pd.DataFrame(json.loads(out)), ("estimate", "se", "ci_low", "ci_high"))


def test_jackknife_variance_equals_r(capsys: pytest.CaptureFixture[str]) -> None:
    case = next(c for c in load_cases("replicates") if c["id"] == "clus1_jk1_mean")
    assert case["design"]["fpc"] == "fpc"
    code, out, err = run(capsys, str(FIXTURES / "data" / "apiclus1.csv"), "--psu", "dnum",
                         "--weights", "pw", "--fpc", "fpc", "--mean", "api00", "--mean",
                         "api99", "--variance", "jk1", "--format", "json")
    assert code == 0, err
    _compare_rows(case, pd.DataFrame(json.loads(out)), ("estimate", "se", "ci_low", "ci_high",
                                                        "df"))


def test_bootstrap_is_seeded(capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(APISTRAT), "--weights", "pw", "--strata", "stype", "--mean", "api00",
            "--variance", "bootstrap", "--replicates", "40", "--format", "json"]
    outs = [json.loads(run(capsys, *args, "--seed", seed)[1])[0]["se"]
            for seed in ("1", "1", "2")]
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]

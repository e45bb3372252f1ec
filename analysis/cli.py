"""Command line: ``python -m analysis estimate DATA [options]``.

A stable contract that statisticians script: every option maps onto the Python API, errors are
one line on stderr with a non-zero exit status, and the output table has fixed columns.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pandas as pd

import analysis
from analysis import io
from analysis.design import LonelyPSU, SurveyDesign
from analysis.errors import SurveyError
from analysis.intervals import CIMethod
from analysis.results import OUTPUT_COLUMNS

#: Columns after the fixed ones: the reliability reason (sentence and codes), the CV, and the
#: domain level of --sipas results.
EXTRA_COLUMNS = ["reason", "reason_code", "cv", "level"]

EXAMPLE = """\
examples:
  # mean and total on a stratified sample with fpc, by school type
  python -m analysis estimate apistrat.csv --weights pw --strata stype --fpc fpc \\
      --mean api00 --total enroll --by stype

  # SIPAS indices for every commune, centre-day PSUs within centre strata, beta intervals
  python -m analysis estimate responses.parquet --weights w --strata centre_code \\
      --psu centre_day --sipas --by province_code,commune_code --ci beta --format xlsx \\
      --output sipas.xlsx

  # raked weights (margins from CSV files with the margin column(s) and Freq)
  python -m analysis estimate apiclus1.csv --psu dnum --weights pw --mean api00 \\
      --calibrate rake --margin stype:stype.csv --margin sch.wide:schwide.csv

output columns: the --by columns, statistic, variable, estimate, se, ci_low, ci_high, df,
deff, n, n_eff, flag; then reason and reason_code (NCHS 2017 reliability, for --prop and
--sipas), cv and level (--sipas). Proportions are 0-1; flag is ok, review or suppress.
exit status: 0 ok, 1 the data cannot be estimated as asked (message on stderr), 2 bad usage.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Design-based estimates for complex samples (agrees with R survey).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    est = sub.add_parser(
        "estimate",
        help="estimate totals, means, ratios, proportions or SIPAS indices",
        description="Estimate totals, means, ratios, proportions or SIPAS indices with "
        "design-based standard errors and confidence intervals.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    est.add_argument("data", help="input table: .csv (UTF-8), .xlsx or .parquet")
    d = est.add_argument_group("design")
    d.add_argument("--weights", metavar="COL", help="sampling weight column (1/probability)")
    d.add_argument("--probs", metavar="COL", help="inclusion probability column (instead of "
                   "--weights)")
    d.add_argument("--strata", metavar="COL", help="stratum column")
    d.add_argument("--psu", metavar="COL[,COL...]",
                   help="cluster column per stage; default: every row is its own PSU")
    d.add_argument("--fpc", metavar="COL[,COL...]",
                   help="per stage: population size (>= 1) or sampling fraction (<= 1)")
    d.add_argument("--nest", action="store_true",
                   help="PSU ids repeat across strata (unique only within a stratum)")
    d.add_argument("--lonely-psu", choices=[r.value for r in LonelyPSU], default="fail",
                   help="rule for strata with one PSU (default: fail, naming the stratum)")
    s = est.add_argument_group("statistics (repeatable)")
    s.add_argument("--mean", action="append", default=[], metavar="COL")
    s.add_argument("--total", action="append", default=[], metavar="COL")
    s.add_argument("--ratio", action="append", default=[], metavar="NUM/DEN")
    s.add_argument("--prop", action="append", default=[], metavar="COL=VALUE")
    s.add_argument("--sipas", action="store_true",
                   help="SIPAS criterion, content and overall indices from item columns "
                   "C1.1..C5.3 (values 1-5, na, empty)")
    s.add_argument("--by", metavar="COL[,COL...]", help="domains (estimated on the full design)")
    c = est.add_argument_group("intervals")
    c.add_argument("--ci", choices=[m.value for m in CIMethod], default="logit",
                   help="interval method for proportions (default logit, as svyciprop)")
    c.add_argument("--level", type=float, default=0.95)
    c.add_argument("--df", default="design", help="'design' (PSUs minus strata) or 'inf'")
    v = est.add_argument_group("variance")
    v.add_argument("--variance", choices=["taylor", "jk1", "jkn", "bootstrap", "brr"],
                   default="taylor")
    v.add_argument("--replicates", type=int, metavar="N", help="bootstrap replicates")
    v.add_argument("--seed", type=int, metavar="S", help="bootstrap random seed")
    k = est.add_argument_group("calibration")
    k.add_argument("--calibrate", choices=["poststratify", "rake", "linear"])
    k.add_argument("--margin", action="append", default=[], metavar="COL[+COL]:FILE.csv",
                   help="known population counts: the margin column(s) and Freq")
    o = est.add_argument_group("output")
    o.add_argument("--format", choices=list(io.WRITE_FORMATS), default="csv")
    o.add_argument("--output", metavar="FILE", help="default: standard output")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        table = run_estimate(args)
        io.write_table(table, args.format, args.output)
    except SurveyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `... | head`
        return 0
    return 0


def run_estimate(args: argparse.Namespace) -> pd.DataFrame:
    """Everything ``estimate`` does, returning the output table."""
    if not (args.mean or args.total or args.ratio or args.prop or args.sipas):
        raise SurveyError("Nothing to estimate: give --mean, --total, --ratio, --prop or --sipas")
    if not 0 < args.level < 1:
        raise SurveyError(f"--level must be between 0 and 1, not {args.level}")
    df = _df_option(args.df)
    data = io.read_table(args.data)
    design = SurveyDesign.from_frame(
        data, psu=args.psu, strata=args.strata, weights=args.weights, probs=args.probs,
        fpc=args.fpc, nest=args.nest, lonely_psu=args.lonely_psu,
    )
    design = _calibrate(design, args)
    design = _variance(design, args)
    frames = []
    for col in args.total:
        frames.append(analysis.total(design, col, by=args.by).to_frame(args.level, df=df))
    for col in args.mean:
        frames.append(analysis.mean(design, col, by=args.by).to_frame(args.level, df=df))
    for spec in args.ratio:
        num, sep, den = spec.partition("/")
        if not sep or not num or not den:
            raise SurveyError(f"--ratio needs NUM/DEN, got '{spec}'")
        frames.append(analysis.ratio(design, num, den, by=args.by).to_frame(args.level, df=df))
    for spec in args.prop:
        col, sep, value = spec.partition("=")
        if not sep or not col:
            raise SurveyError(f"--prop needs COL=VALUE, got '{spec}'")
        result = analysis.prop(design, col, value, by=args.by)
        frames.append(_flag_proportions(result.to_frame(args.level, args.ci, df=df)))
    if args.sipas:
        from analysis.sipas import sipas_indices

        result = sipas_indices(design, by=args.by, level=args.level, ci=args.ci, df=df)
        frames.append(result.to_frame())
    table = pd.concat(frames, ignore_index=True)
    extra = [c for c in EXTRA_COLUMNS if c in table.columns]
    by_cols = [c for c in table.columns if c not in OUTPUT_COLUMNS + extra]
    return table[by_cols + OUTPUT_COLUMNS + extra]


def _df_option(value: str) -> str | float:
    if value == "design":
        return "design"
    if value.lower() in ("inf", "infinity"):
        return float("inf")
    try:
        number = float(value)
    except ValueError:
        raise SurveyError(f"--df must be 'design', 'inf' or a number, not '{value}'") from None
    if number <= 0:
        raise SurveyError("--df must be positive")
    return number


def _flag_proportions(frame: pd.DataFrame) -> pd.DataFrame:
    """Reliability flags for proportions (NCHS 2017 standard, :mod:`analysis.reliability`)."""
    from analysis.reliability import assess_proportions

    result = assess_proportions(frame["estimate"].to_numpy(), frame["se"].to_numpy() ** 2,
                                frame["n"].to_numpy(), frame["df"].to_numpy())
    return frame.assign(flag=result.flag, reason=result.reason, reason_code=result.reason_code)


def _variance(design: SurveyDesign, args: argparse.Namespace) -> SurveyDesign:
    if args.variance == "taylor":
        if args.replicates or args.seed is not None:
            raise SurveyError("--replicates and --seed apply to --variance bootstrap")
        return design
    from analysis.replicates import replicate_design

    return replicate_design(design, args.variance, replicates=args.replicates, seed=args.seed)


def _calibrate(design: SurveyDesign, args: argparse.Namespace) -> SurveyDesign:
    if not args.calibrate:
        if args.margin:
            raise SurveyError("--margin needs --calibrate poststratify|rake|linear")
        return design
    if not args.margin:
        raise SurveyError("--calibrate needs at least one --margin COL[+COL]:FILE.csv")
    margins = []
    for spec in args.margin:
        cols, sep, path = spec.partition(":")
        if not sep or not cols or not path:
            raise SurveyError(f"--margin needs COL[+COL]:FILE.csv, got '{spec}'")
        columns = [c.strip() for c in cols.split("+") if c.strip()]
        margins.append((columns, io.read_margin(path, columns)))
    from analysis import calibration

    if args.calibrate == "poststratify":
        if len(margins) != 1:
            raise SurveyError("poststratify takes one --margin (cross columns with +)")
        columns, table = margins[0]
        return calibration.poststratify(design, columns, table)
    if args.calibrate == "rake":
        return calibration.rake(design, margins)
    return calibration.calibrate_margins(design, margins)

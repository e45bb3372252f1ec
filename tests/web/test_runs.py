"""Analysis runs end to end on the demo data (SQLite and PostgreSQL): results for every level,
frozen and reproducible, failures stored on the run, publishing audited."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import func, select, update

RESULT_FIELDS = ("level", "unit_code", "province_code", "statistic", "variable", "estimate",
                 "se", "ci_low", "ci_high", "df", "deff", "n", "n_eff", "flag", "reason",
                 "rank", "rank_low", "rank_high", "rank_of", "diff_rest", "diff_low",
                 "diff_high", "p_value", "p_holm", "below")


@pytest.fixture
def period_code(app: Flask) -> str:
    from surveyapp.services import run_demo

    with app.app_context():
        return run_demo.demo_period(responses=300).code


def _run(app: Flask, code: str, design: dict | None = None) -> int:
    from surveyapp.services import frames, runs

    with app.app_context():
        run = runs.run_now(frames.get_period(code), design)
        return run.id


def _rows(app: Flask, run_id: int) -> list[tuple]:
    from surveyapp.extensions import db
    from surveyapp.models import RunResult

    with app.app_context():
        results = db.session.scalars(select(RunResult).where(RunResult.run_id == run_id)
                                     .order_by(RunResult.level, RunResult.unit_code,
                                               RunResult.variable)).all()
        return [tuple(getattr(r, f) for f in RESULT_FIELDS) for r in results]


def test_run_now_gives_every_level(app: Flask, period_code: str) -> None:
    from surveyapp.extensions import db
    from surveyapp.models import AnalysisRun, RunResult

    run_id = _run(app, period_code)
    with app.app_context():
        run = db.session.get(AnalysisRun, run_id)
        assert run.status == "done", run.error
        assert run.progress == 1.0
        assert run.n_responses == 300
        assert len(run.input_hash) == 64
        assert run.code_version.startswith("0.")
        assert run.design["strata"] == "cell"
        assert run.design["psu"] == "centre_day"
        assert run.excluded["flag:honeypot"] >= 0
        assert run.diagnostics["weights"]["deff"] >= 1.0
        levels = dict(db.session.execute(
            select(RunResult.level, func.count(func.distinct(RunResult.unit_code)))
            .where(RunResult.run_id == run_id).group_by(RunResult.level)).all())
        assert levels == {"country": 1, "province": 3, "commune": 8, "centre": 11}
        sipas = db.session.scalar(select(RunResult).where(
            RunResult.run_id == run_id, RunResult.level == "country",
            RunResult.variable == "SIPAS"))
        assert 0 < sipas.ci_low < sipas.estimate < sipas.ci_high < 1
        assert sipas.unit_code == "VN"
        assert sipas.province_code is None
        ranked = db.session.scalars(select(RunResult).where(
            RunResult.run_id == run_id, RunResult.level == "province",
            RunResult.variable == "SIPAS")).all()
        assert all(r.diff_rest is not None and r.p_holm is not None for r in ranked)
        assert all(r.rank is None or r.rank_low <= r.rank <= r.rank_high for r in ranked)


def test_same_inputs_same_numbers_changed_input_new_hash(app: Flask, period_code: str) -> None:
    from surveyapp.extensions import db
    from surveyapp.models import AnalysisRun, Answer

    first, second = _run(app, period_code), _run(app, period_code)
    assert _rows(app, first) == _rows(app, second)
    with app.app_context():
        h1 = db.session.get(AnalysisRun, first).input_hash
        assert db.session.get(AnalysisRun, second).input_hash == h1
        answer = db.session.scalars(select(Answer).where(Answer.value == 5).limit(1)).one()
        db.session.execute(update(Answer).where(Answer.response_id == answer.response_id,
                                                Answer.item_id == answer.item_id)
                           .values(value=1))
        db.session.commit()
    third = _run(app, period_code)
    with app.app_context():
        assert db.session.get(AnalysisRun, third).input_hash != h1
    assert _rows(app, third) != _rows(app, first)


def test_run_without_frame_fails_with_a_reason(app: Flask) -> None:
    from surveyapp.extensions import db
    from surveyapp.models import AnalysisRun
    from surveyapp.services import run_demo

    with app.app_context():
        code = run_demo.demo_period(responses=50, frame=False).code
    run_id = _run(app, code)
    with app.app_context():
        run = db.session.get(AnalysisRun, run_id)
        assert run.status == "failed"
        assert run.error.startswith("no_frame|")


def test_run_without_responses_fails(app: Flask) -> None:
    from surveyapp.extensions import db
    from surveyapp.models import AnalysisRun
    from surveyapp.services import frames

    with app.app_context():
        frames.create_period("2024-Q1", "Quý 1/2024", "Q1 2024", dt.date(2024, 1, 1),
                             dt.date(2024, 4, 1))
        db.session.commit()
    run_id = _run(app, "2024-Q1")
    with app.app_context():
        assert db.session.get(AnalysisRun, run_id).error.startswith("no_responses|")


@pytest.mark.parametrize("design", [{}, {"strata": "centre", "fpc": False},
                                    {"lonely_psu": "remove", "min_cell_responses": 12}])
def test_split_unit_vs_rest_equals_the_engine(app: Flask, period_code: str,
                                              design: dict) -> None:
    """run_compare's O(cells) contrast agrees with analysis.compare.unit_vs_rest."""
    import numpy as np

    from analysis.compare import unit_vs_rest
    from surveyapp.services import frames, run_design
    from surveyapp.services.frames import load_frame
    from surveyapp.services.run_compare import VsRest
    from surveyapp.services.run_table import load_table

    with app.app_context():
        period = frames.get_period(period_code)
        opts = run_design.normalise(design)
        table = load_table(period)
        built = run_design.build(table, load_frame(period), opts)
    fast = VsRest(built.design, table.items)
    for unit, parent in (("commune_code", "province_code"), ("centre_code", "province_code"),
                         ("province_code", None)):
        ours = fast.compare([unit], [parent] if parent else [], 0.95)
        ref = unit_vs_rest(built.design, unit, parent, table.items)
        keys = [c for c in (parent, unit) if c] + ["variable"]
        both = ref.merge(ours, on=keys, suffixes=("", "_ours"))
        assert len(both) == len(ref) == len(ours)
        for col in ("difference", "se", "df", "p_value", "p_holm", "ci_low"):
            np.testing.assert_allclose(both[f"{col}_ours"], both[col], rtol=1e-9, atol=1e-15,
                                       err_msg=f"{unit} {col}")
        assert (both["below"] == both["below_ours"]).all()


def test_joint_ranks_equal_the_engines_rank_intervals() -> None:
    import numpy as np

    from analysis.compare import rank_intervals
    from surveyapp.services.run_results import joint_ranks

    rng = np.random.default_rng(5)
    for _ in range(20):
        sizes = rng.integers(1, 40, 6)
        group = np.repeat(np.arange(6), sizes)
        est = rng.choice(rng.uniform(0.5, 0.95, 30), len(group))  # ties included
        se = rng.uniform(0.001, 0.08, len(group))
        df = np.where(rng.random(len(group)) < 0.3, np.inf, rng.integers(1, 200, len(group)))
        rank, low, high, of = joint_ranks(est, se, df, group, 0.05)
        for g in range(6):
            m = group == g
            ref = rank_intervals(est[m], se[m], df[m], alpha=0.05)
            np.testing.assert_array_equal(rank[m], ref["rank"])
            np.testing.assert_array_equal(low[m], ref["rank_low"])
            np.testing.assert_array_equal(high[m], ref["rank_high"])
            assert (of[m] == m.sum()).all()


def test_pre_reform_period_is_reaggregated_to_the_34_provinces(app: Flask) -> None:
    from surveyapp.extensions import db
    from surveyapp.models import AdminUnit, AnalysisRun, RunResult
    from surveyapp.services import run_demo, runs
    from surveyapp.services.run_design import DesignOptionError

    with app.app_context():
        period = run_demo.demo_period(responses=250, code="2025-Q2",
                                      start=dt.date(2025, 4, 1), end=dt.date(2025, 7, 1))
        run_id = runs.run_now(period).id
        old_id = runs.run_now(period, {"geography": "2008"}).id
        run, old = db.session.get(AnalysisRun, run_id), db.session.get(AnalysisRun, old_id)
        assert run.status == "done", run.error
        assert run.reaggregated
        assert "reaggregated" in run.diagnostics["notes"]
        assert old.status == "done", old.error
        assert not old.reaggregated
        new_codes = set(db.session.scalars(select(AdminUnit.code).where(
            AdminUnit.level == "province", AdminUnit.valid_to.is_(None))))
        got = set(db.session.scalars(select(RunResult.unit_code).where(
            RunResult.run_id == run_id, RunResult.level == "province")))
        assert got <= new_codes
        post = run_demo.demo_period(responses=20, seed=99)
        with pytest.raises(DesignOptionError):
            runs.create_run(post, {"geography": "2008"})


def test_stored_rows_equal_one_plain_computation(app: Flask, period_code: str) -> None:
    """The run computes indices and contrasts in two threads, level by level, and stores each
    level as it is ready (services.run_estimate): the rows are exactly those of one
    sipas_indices call and one vs_rest call, in this thread."""
    import numpy as np
    import pandas as pd

    from analysis.sipas import sipas_indices
    from surveyapp.extensions import db
    from surveyapp.models import RunResult
    from surveyapp.services import frames, run_design, run_results
    from surveyapp.services.frames import load_frame
    from surveyapp.services.run_compare import vs_rest
    from surveyapp.services.run_table import load_table

    run_id = _run(app, period_code)
    with app.app_context():
        period = frames.get_period(period_code)
        opts = run_design.normalise(None)
        table = load_table(period)
        design = run_design.build(table, load_frame(period), opts).design
        stored = pd.read_sql(select(*[getattr(RunResult, c) for c in run_results.COLUMNS[1:]])
                             .where(RunResult.run_id == run_id), db.session.connection())
    result = sipas_indices(design, items=table.items, by=run_results.by_spec(),
                           level=opts["level"], ci=opts["ci"])
    rest, _how = vs_rest(design, table.items, opts["strata"], run_results.unit_levels(),
                         opts["level"])
    expected = pd.concat([run_results.level_frame(result, lev.name, rest.get(lev.name),
                                                  opts["level"]) for lev in result.levels],
                         ignore_index=True)
    keys = ["level", "unit_code", "province_code", "variable"]
    a = stored.fillna({"province_code": ""}).sort_values(keys).reset_index(drop=True)
    b = expected.fillna({"province_code": ""}).sort_values(keys).reset_index(drop=True)
    assert len(a) == len(b) == run_results_count(app, run_id)
    for col in run_results.COLUMNS[1:]:
        if pd.api.types.is_numeric_dtype(b[col]) and not pd.api.types.is_bool_dtype(b[col]):
            np.testing.assert_array_equal(  # exact: the same arithmetic in the same order
                a[col].astype("Float64").to_numpy(float, na_value=np.nan),
                b[col].astype("Float64").to_numpy(float, na_value=np.nan), err_msg=col)
        else:
            assert [None if pd.isna(v) else v for v in a[col]] == \
                   [None if pd.isna(v) else v for v in b[col]], col


def run_results_count(app: Flask, run_id: int) -> int:
    from surveyapp.extensions import db
    from surveyapp.models import AnalysisRun

    with app.app_context():
        return db.session.get(AnalysisRun, run_id).diagnostics["n_results"]

"""``flask --app surveyapp report``: the same files as the dashboard's downloads.

The command line is a statistician's tool (it has the database anyway), so it reads through
the access layer as a statistician: any finished run, published or not, any province.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import click
from werkzeug.exceptions import NotFound

from surveyapp.reports import data
from surveyapp.reports.render import download_bytes


@dataclass(frozen=True)
class CommandLineUser:
    """Stands for the operator in ``surveyapp.access`` checks."""

    role: str = "statistician"
    unit: None = None
    is_authenticated: bool = True


def write_report(run_id: int, unit: str, fmt: str, output: Path, lang: str = "vi") -> None:
    started = time.perf_counter()
    try:
        report = data.build(run_id, unit, lang, user=CommandLineUser())
    except NotFound:
        raise click.ClickException(
            f"Không có kết quả cho lần chạy {run_id}, tỉnh {unit} (lần chạy chưa xong hoặc mã "
            f"tỉnh không có trong kết quả). / No results for run {run_id}, province {unit}."
        ) from None
    body, _mimetype, _name = download_bytes(report, fmt)
    output.write_bytes(body)
    click.echo(f"{output}: {len(body):,} bytes, {report.name}, "
               f"{report.run.period.code}, {time.perf_counter() - started:.2f} s")

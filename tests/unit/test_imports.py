"""Starting the web app must stay cheap: gunicorn workers and every ``flask`` CLI command pay
for what is imported at start. The statistics engine, charts and file writers load on first
use (pyarrow comes with pandas 3 anyway)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("scipy", "matplotlib", "xlsxwriter", "fpdf", "segno", "analysis.estimators")


def test_app_start_does_not_load_the_engine_or_writers():
    code = (
        "import sys\n"
        "from surveyapp import create_app\n"
        "create_app({'TESTING': True, 'SQLALCHEMY_DATABASE_URI': 'sqlite://',"
        " 'SECRET_KEY': 'x' * 40})\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == ""


def test_design_form_offers_every_ci_method_but_likelihood():
    from analysis import CIMethod
    from surveyapp.services.run_design import CI_METHODS

    assert set(CI_METHODS) == {m.value for m in CIMethod} - {"likelihood"}


def test_lazy_engine_names_resolve():
    import analysis

    for name in analysis.__all__:
        assert getattr(analysis, name) is not None

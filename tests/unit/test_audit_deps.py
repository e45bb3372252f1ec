"""scripts/audit-deps: which pip-audit reports fail the build (a known vulnerability with a
fixed release), which only warn (no fix yet), and which mean "not audited at all"."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit-deps"


def _decide():  # noqa: ANN202
    loader = importlib.machinery.SourceFileLoader("audit_deps", str(SCRIPT))
    spec = importlib.util.spec_from_loader("audit_deps", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.decide


def _vuln(ident: str, fixes: list[str]) -> dict:
    return {"id": ident, "fix_versions": fixes, "aliases": [], "description": ""}


def test_fixable_vulnerability_fails() -> None:
    status, lines = _decide()({"dependencies": [
        {"name": "flask", "version": "3.1.3", "vulns": []},
        {"name": "jinja2", "version": "3.1.2", "vulns": [_vuln("GHSA-xxxx", ["3.1.3"])]},
    ], "fixes": []})
    assert status == 1
    assert "VULNERABLE jinja2 3.1.2: GHSA-xxxx (fixed in 3.1.3)" in lines


def test_vulnerability_without_fix_only_warns() -> None:
    status, lines = _decide()({"dependencies": [
        {"name": "pkg", "version": "1.0", "vulns": [_vuln("PYSEC-1", [])]}]})
    assert status == 0
    assert lines[0] == "warning: pkg 1.0: PYSEC-1 (no fixed release yet)"


def test_clean_report_passes() -> None:
    status, lines = _decide()({"dependencies": [
        {"name": "flask", "version": "3.1.3", "vulns": []},
        {"name": "local-only", "version": "1", "skip_reason": "Dependency not found on PyPI"}]})
    assert status == 0
    assert lines[-1].startswith("1 packages audited, 1 skipped, 0 fixable")


def test_every_package_skipped_means_not_audited() -> None:
    """What an unreachable PyPI JSON API looks like: no error, every package skipped."""
    status, lines = _decide()({"dependencies": [
        {"name": n, "skip_reason": f"Dependency not found on PyPI: {n}"} for n in "abc"]})
    assert status == 3
    assert "no dependency could be audited (3 skipped" in lines[0]

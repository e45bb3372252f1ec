"""Number formatting for reports: proportions (0-1) shown as percentages in the reader's locale.

Vietnamese writes 82,66% (decimal comma, dot for thousands); English 82.66%. Kept apart from
Flask-Babel's request locale so that the CLI and the PDF writer format the same way.
"""

from __future__ import annotations

import math

from babel import Locale
from babel.numbers import format_decimal

#: Parsed once, with their number symbols loaded, at import: one page formats hundreds of
#: numbers, and a locale loaded lazily while several server threads format at once once gave
#: a page with both decimal commas and points.
_LOCALE = {"vi": Locale.parse("vi_VN"), "en": Locale.parse("en_US")}
for _loc in _LOCALE.values():
    _ = _loc.number_symbols


def _ok(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def pct(value: float | None, lang: str = "vi", digits: int = 1) -> str:
    """``0.82655`` -> ``82,7%`` (vi) / ``82.7%`` (en); empty for a missing value."""
    if not _ok(value):
        return ""
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value * 100, pattern, locale=_LOCALE.get(lang, _LOCALE["vi"])) + "%"


def pct_range(low: float | None, high: float | None, lang: str = "vi", digits: int = 1) -> str:
    """A confidence interval in percent: ``80,1–85,2%``."""
    if not (_ok(low) and _ok(high)):
        return ""
    return pct(low, lang, digits)[:-1] + "–" + pct(high, lang, digits)


def points(value: float | None, lang: str = "vi", digits: int = 1) -> str:
    """A difference of proportions in percentage points, always signed: ``+2,3`` / ``−1,0``."""
    if not _ok(value):
        return ""
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    text = format_decimal(abs(value) * 100, pattern, locale=_LOCALE.get(lang, _LOCALE["vi"]))
    return ("−" if value < 0 and text.strip("0,.") else "+") + text


def number(value: float | None, lang: str = "vi", digits: int = 0) -> str:
    if not _ok(value):
        return ""
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, pattern, locale=_LOCALE.get(lang, _LOCALE["vi"]))


def p_value(value: float | None, lang: str = "vi") -> str:
    if not _ok(value):
        return ""
    if value < 0.001:
        return "< " + number(0.001, lang, 3)
    return number(value, lang, 3)

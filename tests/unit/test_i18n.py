"""The vi and en catalogues are complete, not fuzzy, and cover every string in the code."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from surveyapp.i18n_cli import ROOT, TRANSLATIONS


def catalogue(lang: str):
    with open(Path(TRANSLATIONS, lang, "LC_MESSAGES", "messages.po"), "rb") as fh:
        return read_po(fh)


def extracted_ids() -> set[str]:
    """What ``pybabel extract`` with babel.cfg finds in the code right now."""
    from babel.messages.frontend import parse_mapping_cfg

    with open(Path(ROOT, "babel.cfg"), encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
    return {msg[2] for msg in extract_from_dir(ROOT, method_map, options_map, keywords=keywords)
            if isinstance(msg[2], str)}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_catalogue_complete_and_not_fuzzy(lang):
    cat = catalogue(lang)
    missing = [m.id for m in cat if m.id and not m.string]
    fuzzy = [m.id for m in cat if m.id and m.fuzzy]
    assert missing == [], f"untranslated in {lang}: {missing}"
    assert fuzzy == [], f"fuzzy in {lang}: {fuzzy}"


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_string_in_the_code_is_in_the_catalogue(lang):
    ids = {m.id for m in catalogue(lang) if m.id}
    missing = sorted(extracted_ids() - ids)
    assert missing == [], f"not in {lang} catalogue (run `flask translate update`): {missing}"


def test_placeholders_survive_translation():
    import re

    for m in catalogue("vi"):
        if m.id:
            assert sorted(re.findall(r"%\(\w+\)[sd]", m.id)) == sorted(
                re.findall(r"%\(\w+\)[sd]", m.string)), m.id


def test_vietnamese_has_diacritics_and_polite_address():
    strings = {m.id: m.string for m in catalogue("vi") if m.id}
    assert strings["Very dissatisfied"] == "Rất không hài lòng"
    assert strings["Dissatisfied"] == "Không hài lòng"
    assert strings["Neutral"] == "Bình thường"
    assert strings["Satisfied"] == "Hài lòng"
    assert strings["Very satisfied"] == "Rất hài lòng"
    assert strings["Not applicable"] == "Không áp dụng"
    assert "Ông/Bà" in strings["Thank you!"]

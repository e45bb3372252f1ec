#!/usr/bin/env python3
"""Fill translations into the vi and en catalogues from a JSON file.

    python scripts/i18n_fill.py new.json

where new.json is {"msgid": "bản dịch", ...} or {"msgid": {"vi": "...", "en": "..."}}.

English defaults to the msgid itself. Run `flask --app surveyapp translate update` first (so the
msgids exist), then this, then `translate compile`. Unknown msgids are reported, not added.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent / "surveyapp" / "translations"


def fill(mapping: dict[str, str | dict[str, str]]) -> int:
    missing = 0
    for lang in ("vi", "en"):
        path = ROOT / lang / "LC_MESSAGES" / "messages.po"
        with open(path, "rb") as fh:
            catalog = read_po(fh, locale=lang)
        for msgid, value in mapping.items():
            text = value.get(lang) if isinstance(value, dict) else (value if lang == "vi" else None)
            text = text if text is not None else msgid
            message = catalog.get(msgid)
            if message is None:
                if lang == "vi":
                    print(f"not in catalogue (run translate update?): {msgid!r}", file=sys.stderr)
                    missing += 1
                continue
            message.string = text
            message.flags.discard("fuzzy")
        with open(path, "wb") as fh:
            write_po(fh, catalog, width=76, omit_header=False, sort_output=True)
    return missing


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        sys.exit(1 if fill(json.load(fh)) else 0)

"""``flask translate extract|update|compile``: pybabel as a build step (via Babel's API)."""

from __future__ import annotations

import os

import click
from babel.messages.frontend import CommandLineInterface

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(PACKAGE_DIR)
TRANSLATIONS = os.path.join(PACKAGE_DIR, "translations")
POT = os.path.join(TRANSLATIONS, "messages.pot")
BABEL_CFG = os.path.join(ROOT, "babel.cfg")


def pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


@click.group()
def translate() -> None:
    """Extract, update and compile the vi/en message catalogues."""


@translate.command()
def extract() -> None:
    """Collect translatable strings from the code into translations/messages.pot."""
    pybabel("extract", "-F", BABEL_CFG, "-k", "_l", "--no-location", "--sort-output",
            "-o", POT, ROOT)


@translate.command()
def update() -> None:
    """Extract, then merge new strings into the vi and en catalogues."""
    extract.callback()  # type: ignore[misc]
    pybabel("update", "-i", POT, "-d", TRANSLATIONS, "--no-fuzzy-matching", "--ignore-obsolete")


@translate.command()
def compile() -> None:  # noqa: A001 - the subcommand is called "compile"
    """Compile the catalogues to .mo files (not committed; run on every install)."""
    pybabel("compile", "-d", TRANSLATIONS)

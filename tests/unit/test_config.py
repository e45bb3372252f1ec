"""Configuration layers and the secret key rules (no database needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask import Flask

from surveyapp.config import load_config, normalise_database_url


def make_app(tmp_path: Path, testing: bool = False) -> Flask:
    app = Flask("surveyapp", instance_path=str(tmp_path / "instance"),
                instance_relative_config=True)
    app.testing = testing
    return app


def test_generates_secret_key_once_into_instance(tmp_path):
    app = make_app(tmp_path)
    load_config(app, None)
    key_file = tmp_path / "instance" / "secret_key"
    assert key_file.exists()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert len(app.config["SECRET_KEY"]) == 64
    again = make_app(tmp_path)
    load_config(again, None)
    assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"]


@pytest.mark.parametrize("key", ["dev", "changeme", "short"])
def test_refuses_placeholder_key_in_production(tmp_path, monkeypatch, key):
    monkeypatch.setenv("SIPAS_SECRET_KEY", key)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        load_config(make_app(tmp_path), None)


def test_placeholder_key_allowed_when_testing(tmp_path):
    app = make_app(tmp_path, testing=True)
    load_config(app, {"TESTING": True, "SECRET_KEY": "dev"})
    assert app.config["SECRET_KEY"] == "dev"


def test_layers_defaults_instance_file_environment(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text("KIOSK_IDLE_SECONDS = 90\nTHANKS_SECONDS = 5\n")
    monkeypatch.setenv("SIPAS_THANKS_SECONDS", "12")
    monkeypatch.setenv("SIPAS_DATABASE_URL", "postgresql://u@db/sipas")
    monkeypatch.setenv("SIPAS_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("SIPAS_SECRET_KEY", "k" * 40)
    app = make_app(tmp_path)
    load_config(app, None)
    assert app.config["KIOSK_IDLE_SECONDS"] == 90  # instance file over defaults
    assert app.config["THANKS_SECONDS"] == 12  # environment over instance file
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/sipas"
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"


def test_default_database_is_sqlite_in_instance(tmp_path, monkeypatch):
    monkeypatch.delenv("SIPAS_DATABASE_URL", raising=False)
    app = make_app(tmp_path)
    load_config(app, None)
    expected = "sqlite:///" + os.path.join(str(tmp_path / "instance"), "sipas.db")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == expected
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_mapping_replaces_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SIPAS_KIOSK_IDLE_SECONDS", "5")
    app = make_app(tmp_path, testing=True)
    load_config(app, {"TESTING": True, "SECRET_KEY": "x" * 32})
    assert app.config["KIOSK_IDLE_SECONDS"] == 60


@pytest.mark.parametrize(("url", "expected"), [
    ("postgres://a@b/c", "postgresql+psycopg://a@b/c"),
    ("postgresql://a@b/c", "postgresql+psycopg://a@b/c"),
    ("postgresql+psycopg://a@b/c", "postgresql+psycopg://a@b/c"),
    ("sqlite:///x.db", "sqlite:///x.db"),
])
def test_normalise_database_url(url, expected):
    assert normalise_database_url(url) == expected


def test_create_app_does_no_database_work(tmp_path):
    """The factory binds extensions but touches no database (no create_all, no migrate)."""
    from surveyapp import create_app

    db_file = tmp_path / "never.db"
    create_app({"TESTING": True, "SECRET_KEY": "x" * 32,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_file}"})
    assert not db_file.exists()

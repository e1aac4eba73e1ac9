"""The SQL endpoint's logins and roles, without a server: the embedded account, the directory
settings, and the refusal to listen beyond loopback without a login."""

from __future__ import annotations

import base64
import hashlib
import stat

import pytest
from conftest import cli

from citylake.lake import sql_auth


def test_loopback_is_told_from_every_other_address():
    assert all(sql_auth.is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "localhost"))
    assert not any(sql_auth.is_loopback(h) for h in ("0.0.0.0", "::", "192.0.2.10", "no-such-host.invalid"))


def test_serving_beyond_loopback_without_a_login_stops_with_a_clear_error(tmp_path):
    proc = cli(tmp_path / "lake", "serve-sql", "--bind", "0.0.0.0", "--auth", "none", check_codes=(2,))
    assert "refusing to serve 0.0.0.0 without authentication" in proc.stderr


def _verifies(line: str, user: str, password: str) -> bool:
    name, scheme, iterations, salt, digest = line.strip().split(":")
    ours = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    return name == user and scheme == "pbkdf2-sha256" and ours == base64.b64decode(digest)


def test_the_embedded_account_is_made_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYLAKE_SQL_SECRETS_DIR", str(tmp_path))
    monkeypatch.delenv("CITYLAKE_SQL_USER", raising=False)
    monkeypatch.delenv("CITYLAKE_SQL_PASSWORD", raising=False)
    first = sql_auth.ensure_account("analyst")
    assert first.user == "analyst" and first.password_file == tmp_path / "sql-analyst-password"
    password = first.password_file.read_text().strip()
    for secret in (first.password_file, first.accounts_file):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert _verifies(first.accounts_file.read_text(), "analyst", password)
    assert password not in first.accounts_file.read_text()
    again = sql_auth.ensure_account("analyst")  # a restart keeps the password a BI tool saved
    assert again.password_file is not None and again.password_file.read_text().strip() == password


def test_the_environment_overrides_the_embedded_account_and_is_written_nowhere(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYLAKE_SQL_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("CITYLAKE_SQL_USER", "bi-reader")
    monkeypatch.setenv("CITYLAKE_SQL_PASSWORD", "correct horse battery staple")
    account = sql_auth.ensure_account("analyst")
    assert account.user == "bi-reader" and account.password_file is None
    assert _verifies(account.accounts_file.read_text(), "bi-reader", "correct horse battery staple")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sql-analyst-accounts"]
    monkeypatch.setenv("CITYLAKE_SQL_USER", "a:b")
    with pytest.raises(sql_auth.ConfigError, match="CITYLAKE_SQL_USER"):
        sql_auth.ensure_account("analyst")


def test_each_role_logs_in_through_its_own_directory_group(monkeypatch):
    monkeypatch.setenv("CITYLAKE_SQL_LDAP_URL", "ldaps://directory.example:636")
    monkeypatch.setenv("CITYLAKE_SQL_LDAP_BASE_DN", "dc=city,dc=example")
    monkeypatch.delenv("CITYLAKE_SQL_LDAP_GROUP", raising=False)
    analyst, steward = sql_auth.Ldap.from_env("analyst"), sql_auth.Ldap.from_env("steward")
    assert analyst and steward and (analyst.group, steward.group) == ("analysts", "stewards")
    conf = sql_auth.spark_conf("ldap", ldap=steward)
    assert conf["spark.hadoop.hive.server2.authentication"] == "CUSTOM"
    assert conf["spark.hadoop.hive.server2.authentication.ldap.groupFilter"] == "stewards"
    assert conf["spark.hadoop.hive.server2.authentication.ldap.url"] == "ldaps://directory.example:636"
    assert sql_auth.ROLE_ZONES["analyst"] == ("silver", "gold", "_system")  # never bronze or quarantine

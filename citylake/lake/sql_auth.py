"""Who may connect to the SQL endpoint, and what each role is served.

Roles are separate endpoints (one process each), so a role's rights never depend on telling
users apart inside one server: ``analyst`` (the default) serves the zones without clear
personal data; ``steward`` adds bronze and quarantine (records as sent), for the
data-protection officer and the stewards the Access table names. Both are read-only.

Authentication is HiveServer2's user/password login, which every BI tool speaks:

- ``ldap``: a directory (``CITYLAKE_SQL_LDAP_URL`` set): bind as the user, then require the
  role's group (``analysts``, ``stewards``) with the standard ``hive.server2.authentication.ldap.*``
  settings;
- ``password`` (the embedded default, what ``make sql`` runs): one account per role, its salted
  hash in ``.cache/secrets/sql-<role>-accounts``, its password in ``sql-<role>-password``
  (mode 0600); ``CITYLAKE_SQL_USER`` and ``CITYLAKE_SQL_PASSWORD`` override both;
- ``none``: loopback only, refused on any other address.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from citylake.config.settings import ConfigError
from citylake.config.variables import read

# zone -> served to the role; the catalog database of ``_system`` is ``ops``
ROLE_ZONES = {
    "analyst": ("silver", "gold", "_system"),
    "steward": ("silver", "gold", "_system", "quarantine", "bronze"),
}
DEFAULT_GROUP = {"analyst": "analysts", "steward": "stewards"}
AUTH_MODES = ("password", "ldap", "none")
HS2 = "spark.hadoop.hive.server2."
LDAP = HS2 + "authentication.ldap."
ITERATIONS = 200_000  # PBKDF2-SHA256: about 0.1 s per login, and as much per guess
_USER = re.compile(r"[A-Za-z0-9._-]{1,64}")


def secrets_dir() -> Path:
    return Path(read("CITYLAKE_SQL_SECRETS_DIR"))


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback one (0.0.0.0 and :: are not)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


@dataclass(frozen=True)
class Account:
    """The embedded endpoint's account: ``password_file`` is None when the password came from
    ``CITYLAKE_SQL_PASSWORD`` (it is then written nowhere)."""

    user: str
    accounts_file: Path
    password_file: Path | None


def hash_line(user: str, password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """One line of the accounts file that PasswordFileAuthenticator.java checks logins against."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    b64 = base64.b64encode
    return f"{user}:pbkdf2-sha256:{iterations}:{b64(salt).decode()}:{b64(digest).decode()}\n"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, with no moment of wider access."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def ensure_account(role: str) -> Account:
    """The embedded account for ``role``: created on first use, kept across restarts (so a BI
    tool's saved connection keeps working); the hash file is rewritten with a fresh salt."""
    user = read("CITYLAKE_SQL_USER").strip() or role
    if not _USER.fullmatch(user):
        raise ConfigError(f"CITYLAKE_SQL_USER {user!r}: use 1-64 letters, digits, '.', '_' or '-'")
    base = secrets_dir()
    accounts = base / f"sql-{role}-accounts"
    password = read("CITYLAKE_SQL_PASSWORD")
    password_file: Path | None = None
    if not password:
        password_file = base / f"sql-{role}-password"
        if password_file.exists():
            password = password_file.read_text().strip()
        if not password:
            password = secrets.token_urlsafe(18)
            _write_private(password_file, password + "\n")
    _write_private(accounts, hash_line(user, password))
    return Account(user, accounts, password_file)


@dataclass(frozen=True)
class Ldap:
    """A directory, from CITYLAKE_SQL_LDAP_* (Hive's own names in brackets):
    ``_URL`` (url), ``_BASE_DN`` (baseDN), ``_USER_DN_PATTERN`` (userDNPattern, default
    ``uid=%s,<base DN>``), ``_GROUP_DN_PATTERN`` (groupDNPattern, default ``cn=%s,<base DN>``),
    ``_GROUP`` (groupFilter, default the role's group)."""

    url: str
    base_dn: str
    group: str
    user_dn_pattern: str = ""
    group_dn_pattern: str = ""

    @classmethod
    def from_env(cls, role: str) -> Ldap | None:
        url = read("CITYLAKE_SQL_LDAP_URL").strip()
        if not url:
            return None
        base = read("CITYLAKE_SQL_LDAP_BASE_DN").strip()
        users, groups = (
            read("CITYLAKE_SQL_LDAP_USER_DN_PATTERN"),
            read("CITYLAKE_SQL_LDAP_GROUP_DN_PATTERN"),
        )
        if not base and not (users and groups):
            raise ConfigError(
                "CITYLAKE_SQL_LDAP_URL is set: set CITYLAKE_SQL_LDAP_BASE_DN too (or both DN patterns)"
            )
        group = read("CITYLAKE_SQL_LDAP_GROUP").strip() or DEFAULT_GROUP[role]
        return cls(url, base, group, users.strip(), groups.strip())

    def spark_conf(self) -> dict[str, str]:
        conf = {LDAP + "url": self.url, LDAP + "baseDN": self.base_dn, LDAP + "groupFilter": self.group}
        if self.user_dn_pattern:
            conf[LDAP + "userDNPattern"] = self.user_dn_pattern
        if self.group_dn_pattern:
            conf[LDAP + "groupDNPattern"] = self.group_dn_pattern
        return conf


def spark_conf(mode: str, account: Account | None = None, ldap: Ldap | None = None) -> dict[str, str]:
    """The Thrift server's authentication settings (CUSTOM: see the two Java providers)."""
    if mode == "none":
        return {HS2 + "authentication": "NONE"}
    conf = {HS2 + "authentication": "CUSTOM"}
    if mode == "ldap":
        assert ldap is not None
        conf[HS2 + "custom.authentication.class"] = "org.citylake.sql.LdapGroupAuthenticator"
        conf.update(ldap.spark_conf())
    else:
        assert account is not None
        conf[HS2 + "custom.authentication.class"] = "org.citylake.sql.PasswordFileAuthenticator"
        conf["spark.hadoop.citylake.sql.accounts.file"] = str(account.accounts_file)
    return conf

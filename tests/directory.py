"""A real directory server for the SQL endpoint's tests: Debian's OpenLDAP ``slapd`` on a free
loopback port, with its own config and database in a temp folder (``make test`` installs it).

The directory holds what a city's directory would: people under ``ou=people``, groups under
``ou=groups`` (``groupOfNames``, members by DN), an analyst in ``analysts``, a steward in
``stewards``. Bound users may read entries, anonymous clients nothing, and no one another's
password.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from servers import _stop, _wait, free_port

BASE = "dc=citylake,dc=test"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"

CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {dir}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 16777216
suffix "{base}"
directory {dir}/db
access to attrs=userPassword by self read by anonymous auth by * none
access to * by users read by * none
"""


@dataclass(frozen=True)
class Directory:
    url: str
    passwords: dict[str, str]  # uid -> password

    def dn(self, uid: str) -> str:
        return f"uid={uid},{PEOPLE}"

    def env(self, group: str = "") -> dict[str, str]:
        """What `citylake serve-sql` reads to authenticate against this directory."""
        env = {"CITYLAKE_SQL_LDAP_URL": self.url, "CITYLAKE_SQL_LDAP_BASE_DN": BASE,
               "CITYLAKE_SQL_LDAP_USER_DN_PATTERN": f"uid=%s,{PEOPLE}",
               "CITYLAKE_SQL_LDAP_GROUP_DN_PATTERN": f"cn=%s,{GROUPS}"}  # fmt: skip
        return {**env, "CITYLAKE_SQL_LDAP_GROUP": group} if group else env


def _tool(name: str) -> str:
    """A tool of the slapd package (in /usr/sbin, which a non-root PATH may lack) or ldap-utils."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin") or name


def _ldif(members: dict[str, list[str]], passwords: dict[str, str]) -> str:
    def hashed(pw: str) -> str:
        return subprocess.run(
            [_tool("slappasswd"), "-s", pw], capture_output=True, text=True, check=True
        ).stdout.strip()

    out = [f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: citylake\no: citylake\n",
           f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
           f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n"]  # fmt: skip
    for uid, pw in passwords.items():
        out.append(f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\n"
                   f"userPassword: {hashed(pw)}\n")  # fmt: skip
    for group, uids in members.items():
        lines = "".join(f"member: uid={u},{PEOPLE}\n" for u in uids)
        out.append(f"dn: cn={group},{GROUPS}\nobjectClass: groupOfNames\ncn: {group}\n{lines}")
    return "\n".join(out)


@contextmanager
def slapd(workdir: Path, members: dict[str, list[str]]) -> Iterator[Directory]:
    """slapd on a free loopback port with ``members`` (group -> uids), each uid with a random
    password; yields the directory once it answers a bind."""
    if not shutil.which(_tool("slapd")) or not shutil.which(_tool("ldapwhoami")):
        pytest.fail("the SQL endpoint tests need Debian's slapd and ldap-utils: `make ldap` (make test does)")
    uids = sorted({u for us in members.values() for u in us})
    passwords = {u: secrets.token_urlsafe(12) for u in uids}
    (workdir / "db").mkdir(parents=True)
    conf = workdir / "slapd.conf"
    conf.write_text(CONF.format(dir=workdir, base=BASE))
    (workdir / "data.ldif").write_text(_ldif(members, passwords))
    subprocess.run([_tool("slapadd"), "-q", "-f", str(conf), "-l", str(workdir / "data.ldif")], check=True,
                   capture_output=True)  # fmt: skip
    port = free_port()
    url = f"ldap://127.0.0.1:{port}"
    log = workdir / "slapd.log"
    with log.open("w") as out:
        # -d 0: stay in the foreground (so the test owns the process), log nothing extra
        proc = subprocess.Popen([_tool("slapd"), "-d", "0", "-h", f"{url}/", "-f", str(conf)],
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    first = uids[0]

    def answers() -> bool:
        who = [_tool("ldapwhoami"), "-x", "-H", url, "-D", f"uid={first},{PEOPLE}", "-w", passwords[first]]
        return subprocess.run(who, capture_output=True, timeout=10).returncode == 0

    try:
        _wait("slapd", answers, proc, log, timeout_s=30)
        yield Directory(url, passwords)
    finally:
        _stop(proc)

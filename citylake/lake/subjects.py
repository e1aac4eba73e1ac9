"""Data subjects of a request (PIPL Art. 44-47): who they are, and what to look for.

A request names its subjects in a JSON-lines file, never on the command line, so clear IDs stay
out of shell history and process lists. Each line holds any of ``resident_id``, ``mobile``,
``name`` and ``licence_plate``. What a subject's data looks like in each place:

- clear, in bronze, quarantine and raw files: the normalised value (trimmed, upper case, no
  inner spaces, as silver normalises before hashing), matched against the normalised text;
- in silver: the keyed hash of that value (``pii.hmac_hex_py``);
- in citylake's own records (the suppression list, the request ledger): a *reference*, a keyed
  hash of silver's hash under a key derived for the purpose, so neither holds a value or a hash
  that would find the person in the data (the verifier looks for both, and finds neither).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from citylake.config.registry import FeedContract, Registry
from citylake.domain.pii import hmac_hex_py

# identifier kinds a subject may be given by, as the contracts' ``pii:`` names them
KINDS = ("resident_id", "mobile", "name", "licence_plate")
# encodings units deliver in (registry ``encoding:``); identifiers are ASCII or Chinese
ENCODINGS = ("utf-8", "gb18030")
REF_CONTEXT = b"citylake subject reference"


class SubjectsError(ValueError):
    """A subjects file that cannot be used; the message names the file, line and field."""


def normalise(value: str) -> str:
    """What silver hashes: trimmed, upper case, no inner spaces (``pii.normalise``)."""
    return "".join(value.strip().upper().split())


def reference_key(key: bytes) -> bytes:
    """The key of references: derived from the PII key, so a reference is not silver's hash."""
    return hmac.new(key, REF_CONTEXT, hashlib.sha256).digest()


def reference(silver_hash: str, key: bytes) -> str:
    """The reference of a silver hash (what the suppression list and ledger keep)."""
    return hmac_hex_py(silver_hash, reference_key(key))


@dataclass(frozen=True)
class Subject:
    """One person of a request: ``number`` is the line of the subjects file (1-based)."""

    number: int
    values: dict[str, str]  # kind -> value as given

    @property
    def label(self) -> str:
        return f"subject {self.number}"

    def normalised(self) -> dict[str, str]:
        return {k: normalise(v) for k, v in self.values.items()}

    def hashes(self, key: bytes) -> dict[str, str]:
        """kind -> silver's hash of the value."""
        return {k: hmac_hex_py(v, key) for k, v in self.values.items()}

    def references(self, key: bytes) -> dict[str, str]:
        """kind -> the value's reference (``reference``)."""
        return {k: reference(h, key) for k, h in self.hashes(key).items()}

    def ref(self, key: bytes) -> str:
        """One name for the subject in records and certificates: its references, combined."""
        refs = self.references(key)
        return hashlib.sha256("|".join(f"{k}:{refs[k]}" for k in sorted(refs)).encode()).hexdigest()[:24]

    def needles(self, key: bytes) -> list[bytes]:
        """Byte strings whose presence anywhere means the subject is still there: each value as
        given and normalised, in every delivery encoding, and each silver hash (and its first
        32 characters, which is what Delta statistics keep of a string)."""
        out: set[bytes] = set()
        for value in (*self.values.values(), *self.normalised().values()):
            for enc in ENCODINGS:
                out.add(value.encode(enc))
        for h in self.hashes(key).values():
            out |= {h.encode(), h[:32].encode()}
        return sorted(out)


def load_subjects(path: str | Path) -> list[Subject]:
    """Read a subjects file; any problem raises ``SubjectsError`` naming file, line and field
    (never the value: a subjects file is personal data)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SubjectsError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise SubjectsError(f"{path}: not UTF-8 (byte {exc.start})") from None
    out: list[Subject] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SubjectsError(f"{where}: not JSON (column {exc.colno})") from None
        if not isinstance(record, dict):
            raise SubjectsError(f"{where}: expected an object with any of {', '.join(KINDS)}")
        unknown = sorted(set(record) - set(KINDS))
        if unknown:
            raise SubjectsError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
        values: dict[str, str] = {}
        for kind, value in record.items():
            if not isinstance(value, str):
                raise SubjectsError(f"{where}: field {kind}: expected a string")
            if len(normalise(value)) < 2:
                raise SubjectsError(f"{where}: field {kind}: empty or too short to find anyone by")
            values[kind] = value
        if not values:
            raise SubjectsError(f"{where}: no identifier; give any of {', '.join(KINDS)}")
        out.append(Subject(number, values))
    if not out:
        raise SubjectsError(f"{path}: no subjects")
    return out


def write_subjects(path: str | Path, subjects: Iterable[dict[str, str]]) -> None:
    """Write a subjects file (mode 600: it is personal data)."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in subjects).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def identifier_columns(contract: FeedContract) -> dict[str, list[str]]:
    """kind -> the contract's columns holding that kind of identifier (bronze names)."""
    out: dict[str, list[str]] = {}
    for c in contract.columns:
        if c.pii in KINDS:
            out.setdefault(c.pii, []).append(c.name)
    return out


def personal_contracts(registry: Registry) -> dict[str, dict[str, list[str]]]:
    """contract name -> ``identifier_columns``, for every contract with a subject identifier."""
    out: dict[str, dict[str, list[str]]] = {}
    for feed in registry.feeds():
        cols = identifier_columns(feed.contract)
        if cols:
            out[feed.contract.contract] = cols
    return out

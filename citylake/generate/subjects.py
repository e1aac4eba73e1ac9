"""Data subjects planted in the generated feeds, for PIPL data-subject requests (issue 35).

``make_subjects(n)`` gives n seeded people whose values the generator can never produce on its
own, so a search for any of them finds exactly what was planted:

- resident ID: 18 digits with a correct GB 11643 check character, a current Shanghai district
  code, born in the 1940s (``values.resident_id`` draws 1950-2009);
- name: three characters from pools that share no character with ``values.SURNAMES``/``GIVEN``,
  nor with any road, category, department, register or unit name the generator writes;
- licence plate: 沪 and a letter ``values.plate`` never uses (it uses A-N);
- mobile: 11 digits (the generator's mobiles span every number, so only chance separates them).

The same numbers are the same people on every date, so a request can find one across days.

``plan_subjects(feeds, subjects)`` decides where each subject goes among the feeds of contracts
with personal data (``personal_contracts``): good records covering every contract and every
(identifier kind, delivery kind) pair the selection offers, a malformed record per identifier
kind (CSV and JSON lines), a forced re-send of a file carrying it, and a whole-file rejection
(citylake.generate.planting writes them). Notes say what the selection could not offer; they
hold no value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from citylake.config.registry import Feed
from citylake.domain.districts import districts as district_names
from citylake.domain.ids import resident_id_check
from citylake.generate.common import seeded_rng
from citylake.generate.values import GIVEN, PLATE_LETTERS, SURNAMES
from citylake.lake.subjects import KINDS, Subject, identifier_columns

# characters found nowhere in what the generator writes (see the module doc)
SUBJECT_SURNAMES = "萧孔邹裴鲍莫韦聂傅喻尤"
SUBJECT_GIVEN = "咏晗瑾璐筠翎骁昀珂琰澄钰璇翊彤妍"
SUBJECT_PLATE_LETTERS = "PQRSTUVWXY"
SUBJECT_BIRTH_YEARS = range(1940, 1950)
MOBILE_PREFIXES = ("135", "138", "139", "150", "158", "186", "188")
MAX_SUBJECTS = 1000  # well inside the name pool's 2,816 combinations
SEED = "citylake-subjects"
# what a feed's delivery may be, as issue 35 lists them; each subject gets a good record in each
DELIVERY_KINDS = ("gbk", "gb18030", "utf-8", "utf-8-sig", "gzip", "csv", "jsonl", "parquet")
TEXT_FORMATS = ("csv", "jsonl")


def _check_pools() -> None:
    """A subject's name or plate must be impossible for the normal pools (a byte search for it
    would otherwise find strangers)."""
    shared = set(SUBJECT_SURNAMES + SUBJECT_GIVEN) & set("".join(SURNAMES + GIVEN))
    if shared or set(SUBJECT_PLATE_LETTERS) & set(PLATE_LETTERS):
        raise RuntimeError("subject pools overlap the generator's name or plate pools")


def make_subjects(n: int, seed: str = SEED) -> list[Subject]:
    """n distinct subjects, numbered 1..n; the same n and seed give the same people."""
    if not 0 <= n <= MAX_SUBJECTS:
        raise ValueError(f"subjects: {n} is not in 0..{MAX_SUBJECTS}")
    _check_pools()
    rng = seeded_rng("subjects", seed)
    areas = sorted(district_names())
    out: list[Subject] = []
    seen: set[str] = set()
    while len(out) < n:
        year = SUBJECT_BIRTH_YEARS[int(rng.integers(0, len(SUBJECT_BIRTH_YEARS)))]
        birth = dt.date(year, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
        first17 = f"{areas[int(rng.integers(0, len(areas)))]}{birth:%Y%m%d}{int(rng.integers(0, 1000)):03d}"
        values = {
            "resident_id": first17 + resident_id_check(first17),
            "mobile": MOBILE_PREFIXES[int(rng.integers(0, len(MOBILE_PREFIXES)))]
            + f"{int(rng.integers(0, 10**8)):08d}",
            "name": SUBJECT_SURNAMES[int(rng.integers(0, len(SUBJECT_SURNAMES)))]
            + "".join(SUBJECT_GIVEN[int(i)] for i in rng.integers(0, len(SUBJECT_GIVEN), 2)),
            "licence_plate": f"沪{SUBJECT_PLATE_LETTERS[int(rng.integers(0, len(SUBJECT_PLATE_LETTERS)))]}"
            f"{int(rng.integers(10000, 100000))}",
        }
        if seen & set(values.values()):
            continue  # distinct across subjects, kind by kind
        seen |= set(values.values())
        out.append(Subject(len(out) + 1, values))
    return out


def delivery_kinds(feed: Feed) -> frozenset[str]:
    """What a feed's files are, in DELIVERY_KINDS' terms: format, text encoding, compression."""
    spec = feed.spec
    kinds: set[str] = {spec.format}
    if spec.format in TEXT_FORMATS:
        kinds.add(spec.encoding)
    if spec.compression == "gzip":
        kinds.add("gzip")
    return frozenset(kinds)


@dataclass
class FeedPlan:
    """What one feed's delivery of the day carries of the subjects."""

    good: list[Subject] = field(default_factory=list)  # a good record each, in the main file
    malformed: list[Subject] = field(default_factory=list)  # a record the bronze parser quarantines
    resend: bool = False  # the main file is re-sent whatever the fault draw says
    rejected: list[Subject] = field(default_factory=list)  # in an extra file preflight rejects
    missed: list[str] = field(default_factory=list)  # planting's shortfalls (no value in them)


@dataclass
class Plan:
    subjects: list[Subject]
    feeds: dict[str, FeedPlan]  # feed key -> its part
    notes: list[str]  # what the selection could not offer

    def notes_after(self) -> list[str]:
        """The notes, with what planting found it could not place."""
        return self.notes + [m for p in self.feeds.values() for m in p.missed]


def _kinds_of(feed: Feed, subject: Subject) -> set[str]:
    return set(identifier_columns(feed.contract)) & set(subject.values)


Targets = set[tuple[str, str]]


def _good_targets(s: Subject, f: Feed) -> Targets:
    """Every contract, and every (identifier kind, delivery kind) the feed offers the subject."""
    return {("contract", f.contract.contract)} | {(k, d) for k in _kinds_of(f, s) for d in delivery_kinds(f)}


def _malformed_targets(s: Subject, f: Feed) -> Targets:
    return {("kind", k) for k in _kinds_of(f, s)} | {("format", f.spec.format)}


def _kind_targets(s: Subject, f: Feed) -> Targets:
    return {("kind", k) for k in _kinds_of(f, s)}


def _cover(
    subject: Subject,
    candidates: list[Feed],
    targets: Callable[[Subject, Feed], Targets],
    avoid: frozenset[str] = frozenset(),
) -> list[Feed]:
    """Greedy set cover: feeds until every target some candidate offers is covered. Ties go to
    feeds not in ``avoid`` (keys), then to a per-subject seeded order, so subjects spread."""
    rng = seeded_rng("subject-order", subject.number)
    order = [candidates[int(i)] for i in rng.permutation(len(candidates))]
    offered = {f.key: targets(subject, f) for f in order}
    uncovered: Targets = set().union(*offered.values()) if offered else set()
    chosen: list[Feed] = []
    while uncovered:
        best = max(
            order,
            key=lambda f: (
                bool(offered[f.key] & uncovered),
                f.key not in avoid,
                len(offered[f.key] & uncovered),
            ),
        )
        chosen.append(best)
        uncovered -= offered[best.key]
    return chosen


def plan_subjects(feeds: Iterable[Feed], subjects: list[Subject]) -> Plan:
    """Where each subject goes among ``feeds`` (the selected units' feeds)."""
    personal = sorted((f for f in feeds if identifier_columns(f.contract)), key=lambda f: f.key)
    plan = Plan(subjects, {f.key: FeedPlan() for f in personal}, [])
    if not subjects:
        return plan
    if not personal:
        plan.notes.append(
            "no selected unit delivers a feed with personal data (resident ID, mobile, name or licence "
            "plate columns): no subject planted"
        )
        return plan
    offered = set().union(*(delivery_kinds(f) for f in personal))
    lacking = [k for k in DELIVERY_KINDS if k not in offered]
    if lacking:
        plan.notes.append(
            f"the selected feeds deliver no {', '.join(lacking)}: subjects are not planted in those"
        )
    kinds = set().union(*(identifier_columns(f.contract) for f in personal))
    for kind in KINDS:
        if kind not in kinds:
            plan.notes.append(
                f"no selected feed has a {kind} column: the subjects' {kind} values are not planted"
            )
    text = [f for f in personal if f.spec.format in TEXT_FORMATS]
    if not text:
        plan.notes.append(
            "no selected feed with personal data is CSV or JSON lines: no malformed record planted"
        )
    for s in subjects:
        good = _cover(s, personal, _good_targets)
        for f in good:
            plan.feeds[f.key].good.append(s)
        # a malformed record of each identifier kind, in CSV and JSON lines, away from the good ones
        for f in _cover(s, text, _malformed_targets, avoid=frozenset(f.key for f in good)):
            plan.feeds[f.key].malformed.append(s)
        for f in _cover(s, good, _kind_targets):
            plan.feeds[f.key].resend = True
        for f in _cover(s, personal, _kind_targets):
            plan.feeds[f.key].rejected.append(s)
    plan.feeds = {k: p for k, p in plan.feeds.items() if p.good or p.malformed or p.resend or p.rejected}
    return plan

"""`citylake subject ...`: data-subject requests (PIPL Art. 44-47) for the data-protection officer.

Subjects come in a file (``--subjects FILE``, JSON lines), never on the command line, so clear
IDs stay out of shell history and process lists. Every request is recorded in the hash-chained
ledger ``ops.subject_requests``; outputs name subjects by their line in the file, never a value.
Runbooks: docs/runbooks/subject-*.md; reference: docs/reference/subject-requests.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from citylake.cli.output import EXIT_ERROR, EXIT_OK, EXIT_USAGE, add_json_arg, arg_date, print_json
from citylake.config.registry import load_registry
from citylake.config.settings import load_settings
from citylake.lake import Lake
from citylake.lake.subjects import Subject, SubjectsError, load_subjects


def _say(args: argparse.Namespace) -> Callable[[str], None]:
    return (lambda _m: None) if args.json else (lambda m: print(m, file=sys.stderr))


def _context(args: argparse.Namespace) -> tuple[Any, Any, Lake, bytes, list[Subject]]:
    from citylake.privacy.evidence import check_request_id

    settings = load_settings()
    registry = load_registry(settings.registry_dir)
    if getattr(args, "request", None):
        check_request_id(args.request)
    subjects = load_subjects(args.subjects) if getattr(args, "subjects", None) else []
    lake, key = Lake(settings.lake_root), settings.pii_key()
    if subjects:
        from citylake.lake import keyguard

        # under another key no silver hash would match: a search would find nothing and say so
        keyguard.check(lake, keyguard.hashed_contracts(registry), key)
    return settings, registry, lake, key, subjects


def _spark(settings: Any) -> Any:
    from citylake.engine.spark import get_spark

    return get_spark("citylake-subject", settings)


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    if args.json:
        print_json(data)
    else:
        print(text)


def _outside_lake(path: Path, lake: Lake) -> bool:
    if lake.is_s3:
        return True
    root = Path(lake.root.removeprefix("file://")).resolve()
    return root != path.resolve() and root not in path.resolve().parents


def _record(lake: Lake, args: argparse.Namespace, kind: str, subjects: list[Subject], key: bytes, status: str,
            **kw: Any) -> None:  # fmt: skip
    import datetime as dt

    from citylake.lake import runlock, subject_ledger

    received = getattr(args, "received", None)
    if received is not None:
        kw.setdefault("received_on", received)  # the day the request came in; a request's later rows keep it
    # each row is chained to the one before: appends take the lake's lock, like every other writer
    with runlock.hold(lake, f"ledger-{args.request}", dt.date.today(), wait_s=max(60.0, getattr(args, "wait", 0.0)),
                      what="subject request ledger"):  # fmt: skip
        subject_ledger.record(lake, args.request, kind, [s.ref(key) for s in subjects], status, **kw)


def cmd_locate(args: argparse.Namespace) -> int:
    from citylake.privacy.locate import locate

    settings, registry, lake, key, subjects = _context(args)
    found = locate(_spark(settings), lake, registry, subjects, key)
    _emit(args, found.json(subjects), found.text(subjects))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from citylake.privacy import export
    from citylake.privacy.locate import locate

    settings, registry, lake, key, subjects = _context(args)
    out = Path(args.out or f"subject-exports/{args.request}")
    if not _outside_lake(out, lake):
        print(f"--out {out}: inside the lake root; packages hold clear personal data, write them elsewhere",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    _record(lake, args, "export", subjects, key, "in_progress")
    spark = _spark(settings)
    found = locate(spark, lake, registry, subjects, key)
    records = export.collect(spark, found, subjects, key, registry)
    made = export.write_packages(out, args.request, records, {s.number: s.ref(key) for s in subjects})
    outcome = {"packages": [{"subject_ref": m["subject_ref"], "records": m["records"],
                             "files": [{"name": f["name"], "sha256": f["sha256"]} for f in m["files"]]} for m in made]}  # fmt: skip
    _record(lake, args, "export", subjects, key, "done", outcome=outcome)
    text = "\n".join(f"subject {m['subject']}: {m['records']} record(s) -> " + ", ".join(
        f"{out / f['name']} (sha256 {f['sha256'][:12]})" for f in m["files"]) for m in made)  # fmt: skip
    _emit(args, {"request_id": args.request, "out": str(out), "packages": made}, text)
    return EXIT_OK


def cmd_erase(args: argparse.Namespace) -> int:
    from citylake.privacy import erase

    settings, registry, lake, key, subjects = _context(args)
    _record(lake, args, "erase", subjects, key, "in_progress")
    try:
        record = erase.erase(_spark(settings), lake, registry, subjects, key, args.request, _say(args), args.wait)
    except Exception as exc:
        _record(lake, args, "erase", subjects, key, "failed", reason=f"{type(exc).__name__}: {exc}"[:500])
        raise
    _record(lake, args, "erase", subjects, key, "in_progress", outcome=erase.summary(record))  # done once verified
    s = erase.summary(record)
    _emit(args, {"request_id": args.request, **s, "tables": record["tables"], "files": record["files"]},
          f"request {args.request}: {s['rows_deleted']} row(s) deleted from {s['tables']} table(s), "
          f"{s['data_files_purged']} data file(s) purged, {s['files_rewritten']} file(s) rewritten; "
          f"now run `citylake subject verify --request {args.request} --subjects FILE`")  # fmt: skip
    return EXIT_OK


def cmd_restrict(args: argparse.Namespace) -> int:
    from citylake.privacy import restrict

    settings, registry, lake, key, subjects = _context(args)
    _record(lake, args, "restrict", subjects, key, "in_progress")
    result = restrict.restrict_request(_spark(settings), settings, lake, registry, subjects, key, args.request,
                                       _say(args), args.wait)  # fmt: skip
    _record(lake, args, "restrict", subjects, key, "done", outcome=result.get("summary", {}))
    _emit(args, {"request_id": args.request, **result}, f"request {args.request}: restricted; {result.get('summary')}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from citylake.privacy import evidence, verify

    settings, _, lake, key, subjects = _context(args)
    report = verify.verify_lake(lake, subjects, key)
    data = report.json()
    evidence.write(lake, args.request, "verify", data)
    from citylake.lake import subject_ledger

    rows = subject_ledger.rows_of(lake, args.request)
    kind = rows[0]["type"] if rows else "verify"  # the verification finishes the request it checks
    outcome = {k: data[k] for k in ("objects", "versions", "bytes", "findings_count") if k in data}
    reason = None if report.clean else f"the verifier found the subjects in {len(report.findings)} place(s)"
    _record(lake, args, kind, subjects, key, "done" if report.clean else "failed", outcome=outcome, reason=reason)
    _emit(args, data, report.text())
    return EXIT_OK if report.clean else EXIT_ERROR


def cmd_verify_ledger(args: argparse.Namespace) -> int:
    from citylake.lake import subject_ledger

    lake = Lake(load_settings().lake_root)
    problems = subject_ledger.verify_chain(lake)
    seq, digest = subject_ledger.head(lake)
    _emit(args, {"intact": not problems, "problems": problems, "head": {"seq": seq, "digest": digest}},
          "\n".join(problems) if problems else f"ledger intact: {seq} row(s), head {digest}")  # fmt: skip
    return EXIT_ERROR if problems else EXIT_OK


def cmd_certificate(args: argparse.Namespace) -> int:
    from citylake.privacy import certify

    settings, _, lake, _key, _ = _context(args)
    out = Path(args.out or f"subject-certificates/{args.request}")
    html, js = certify.certificate(lake, args.request, out)
    _emit(args, {"html": str(html), "json": str(js)}, f"certificate: {html}\n             {js}")
    return EXIT_OK


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except (SubjectsError, ValueError) as exc:
            print(f"citylake subject {args.action}: {exc}", file=sys.stderr)
            return EXIT_USAGE

    return run


def add_commands(sub: Any) -> None:
    p = sub.add_parser("subject", help="data-subject requests (PIPL): locate, export, erase, restrict, verify")
    acts = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def act(name: str, fn: Callable[[argparse.Namespace], int], help_: str, request: bool = True,
            subjects: bool = True) -> argparse.ArgumentParser:  # fmt: skip
        a = acts.add_parser(name, help=help_)
        if request:
            a.add_argument("--request", required=True, help="request id (letters, digits, . _ -)")
            a.add_argument("--received", type=arg_date, default=None,
                           help="the day the request was received, YYYY-MM-DD (default today); due 30 days later")  # fmt: skip
        if subjects:
            a.add_argument("--subjects", required=True, metavar="FILE",
                           help="JSON lines: resident_id, mobile, name, licence_plate")  # fmt: skip
        add_json_arg(a)
        a.set_defaults(func=_guard(fn))
        return a

    act("locate", cmd_locate, "every place each subject's data lives", request=False)
    act("export", cmd_export, "one package per subject (JSON and CSV) for the DPO").add_argument(
        "--out", help="directory outside the lake (default subject-exports/<request>)")
    for name, fn, h in (("erase", cmd_erase, "remove the subjects everywhere and purge"),
                        ("restrict", cmd_restrict, "hide the subjects from silver, gold and queries (PIPL 47(2))")):  # fmt: skip
        act(name, fn, h).add_argument("--wait", type=float, default=0.0, help="seconds to wait for the lake lock")
    act("verify", cmd_verify, "scan every object and version for the subjects; exit 0 only if none is found")
    act("verify-ledger", cmd_verify_ledger, "check the request ledger's hash chain; exit 1 if broken",
        request=False, subjects=False)  # fmt: skip
    act("certificate", cmd_certificate, "write the request's certificate (HTML and JSON)", subjects=False
        ).add_argument("--out", help="directory (default subject-certificates/<request>)")  # fmt: skip

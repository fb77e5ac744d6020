"""`ew extract FILE`: what a forwarded document would propose, through the same code as intake-parser
(DESIGN.md §10): opskit.documents reads it, ew.extraction proposes the row (offline unless Bedrock is
configured with --bedrock or EW_BEDROCK_MODEL_ID).

Exit codes: 0 an expiry date was found, 1 none was, 2 the file could not be read (or was refused).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from ew.extraction import (
    DEFAULT_MODEL_ID,
    JSON_KEYS,
    BedrockModel,
    Draft,
    ProposalModel,
    bedrock_client,
    extract,
    read_source,
    to_draft,
)
from opskit.documents import LIMITS

FOUND, NOT_FOUND, UNREADABLE = 0, 1, 2
MODEL_ENV = "EW_BEDROCK_MODEL_ID"

_LABELS = (
    ("item", "What expires"),
    ("category", "Category"),
    ("expiry_date", "Expiry date"),
    ("notice_date", "Notice date"),
    ("renewal_term", "Renewal term"),
    ("owner", "Owner"),
    ("notes", "Notes"),
)


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], date_orders: tuple[str, ...]
) -> None:
    extract_cmd = sub.add_parser(
        "extract",
        help="show the registry row a forwarded document (.eml, PDF, DOCX, XLSX, text) would propose",
    )
    extract_cmd.add_argument("file", help="a .eml, .pdf, .docx, .xlsx or .txt file")
    extract_cmd.add_argument("--json", action="store_true", help="print one JSON object")
    extract_cmd.add_argument(
        "--date-order", choices=date_orders, help="how to read numeric dates like 01/03/2026"
    )
    extract_cmd.add_argument(
        "--sender", help="the forwarder's email (the default owner; overrides a mail's From)"
    )
    extract_cmd.add_argument(
        "--bedrock",
        action="store_true",
        help=f"ask Bedrock (AWS credentials from the environment; model from {MODEL_ENV} or the default)",
    )
    extract_cmd.add_argument(
        "--model-id", help=f"Bedrock model or inference profile (default {DEFAULT_MODEL_ID})"
    )


def run_extract(args: argparse.Namespace, out: TextIO, model: ProposalModel | None = None) -> int:
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf's repair notes are not for this screen
    path = Path(args.file)
    sender = (args.sender or "").strip()
    if not path.is_file():
        return _unreadable(args, out, path.name, f"could not read {path}: there is no such file")
    size = path.stat().st_size
    if size > LIMITS.mail_bytes:
        limit = LIMITS.mail_bytes // (1024 * 1024)
        return _unreadable(args, out, path.name, f"could not read {path.name}: it is larger than {limit} MB")
    source = read_source(path.name, path.read_bytes(), sender=sender)
    if model is None:
        model = configured_model(args)
    extraction = extract(source, model=model, date_order=args.date_order)
    draft = to_draft(extraction, source, default_owner=sender)
    if not draft.fields["owner"] and source.readable:
        problems = [p for p in draft.problems if not p.startswith("owner: ")]
        problems.append("owner: nobody forwarded this file; pass --sender EMAIL to propose an owner")
        draft = replace(draft, problems=tuple(problems))
    if args.json:
        out.write(json.dumps(draft.as_json(), ensure_ascii=False) + "\n")
    else:
        out.write(readable(draft))
    if source.refused or not source.readable:
        return UNREADABLE
    return FOUND if draft.found else NOT_FOUND


def configured_model(args: argparse.Namespace) -> ProposalModel | None:
    model_id = args.model_id or os.environ.get(MODEL_ENV, "")
    if not (args.bedrock or model_id):
        return None
    return BedrockModel(bedrock_client(), model_id or DEFAULT_MODEL_ID)


def readable(draft: Draft) -> str:
    lines = [f"From {draft.source}", ""]
    width = max(len(label) for _, label in _LABELS) + 2
    for name, label in _LABELS:
        value = draft.fields.get(name) or "-"
        lines.append(f"  {label + ':':<{width}}{value}")
    if draft.evidence:
        lines.append(f"  {'Evidence:':<{width}}«{draft.evidence}»")
    if draft.problems:
        lines += ["", "Problems:", *(f"  - {p}" for p in draft.problems)]
    return "\n".join(lines) + "\n"


def _unreadable(args: argparse.Namespace, out: TextIO, name: str, problem: str) -> int:
    if args.json:
        data = {**dict.fromkeys(JSON_KEYS), "source": name, "problems": [problem]}  # as Draft.as_json
        out.write(json.dumps(data, ensure_ascii=False) + "\n")
    else:
        out.write(f"{problem}\n")
    return UNREADABLE

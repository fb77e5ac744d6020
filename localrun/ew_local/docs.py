"""Reading the three human-edited documents from local files, with every problem kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ew.daily_tick import REGISTRY_KEY
from ew.items import Registry, load_registry
from ew.rules import Rules, parse_rules
from ew.sync_plan import sheet_csv
from ew.voice import Voice, parse_voice
from opskit.problems import DocumentError, Problem
from opskit.table import read_cells


@dataclass
class LocalDocs:
    registry: Registry | None = None
    rules: Rules | None = None
    voice: Voice | None = None
    problems: list[Problem] = field(default_factory=list)
    registry_csv: bytes | None = None  # the sheet as drive-sync would mirror it (what the tick reads)


def mirrored_sheet(data: bytes, filename: str) -> bytes:
    """A local .csv or .xlsx sheet as drive-sync would write it to registry.csv: its cells as shown,
    serial numbers in date columns as dates. So `ew check` judges a sheet exactly as drive-sync does,
    and `ew simulate` ticks on what the Lambda would read. Raises DocumentError."""
    cells = read_cells(data, filename)
    return sheet_csv(cells[0], cells[1:]) if cells else sheet_csv([], [])


def _read(path: str, problems: list[Problem]) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        problems.append(Problem(Path(path).name, "file", f"cannot open {path}: {exc.strerror or exc}"))
        return None


def _text(path: str, data: bytes, problems: list[Problem]) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.append(Problem(Path(path).name, "file", "is not UTF-8 text; save it as plain UTF-8 text"))
        return None


def load_docs(
    sheet: str, rules: str | None = None, voice: str | None = None, date_order: str | None = None
) -> LocalDocs:
    docs = LocalDocs()
    data = _read(sheet, docs.problems)
    if data is not None:
        name = Path(sheet).name
        try:
            body = mirrored_sheet(data, name)
            docs.registry = load_registry(body, REGISTRY_KEY, date_order=date_order, source=name)
            docs.registry_csv = body
            docs.problems.extend(docs.registry.problems)
        except DocumentError as exc:
            docs.problems.extend(exc.problems)
    for path, parse, attr in ((rules, parse_rules, "rules"), (voice, parse_voice, "voice")):
        if path is None:
            continue
        raw = _read(path, docs.problems)
        text = _text(path, raw, docs.problems) if raw is not None else None
        if text is None:
            continue
        try:
            setattr(docs, attr, parse(text, Path(path).name))
        except DocumentError as exc:
            docs.problems.extend(exc.problems)
    return docs

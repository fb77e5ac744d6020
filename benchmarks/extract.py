"""How fast is `ew extract`, and how big a mail can intake-parser read within its 512 MB / 60 s?
(DESIGN.md §9, §10; issue 10: time per document over the example documents, and the largest mail.)

    make bench-extract                                  # about 2-4 minutes
    make bench-extract ARGS=--quick                     # small sizes only
    uv run python benchmarks/extract.py --sizes 1 5 10 25 --shapes pdf docx --unlimited --json out.json

1. Per example document (examples/acme/inbox): `ew extract FILE --json` as a fresh process (wall time:
   interpreter start, imports, reading, extraction, printing; median of --runs), and the same work in
   process after a warm-up (`read_source` + `extract` + `to_draft`; median of 20). Also the cold import
   of `opskit.documents` and `ew.extraction`, with a check that neither imports pypdf, python-docx or
   openpyxl (they load on the first document that needs them).

2. Big mails. For each shape and size a mail is generated (not timed) and written to a temp file; a
   fresh process then reads it and runs the same code the intake-parser will run (`read_source` on the
   raw bytes, `extract` offline, `to_draft`), reporting the import time, the extraction time, the peak
   RSS of the process (VmHWM: what Lambda's memory limit counts, C allocations of lxml and zlib
   included; not ru_maxrss, which on Linux keeps the parent's figure across exec) and, in a second
   process, the peak of Python allocations (tracemalloc; its run is slower, so not timed). Shapes:
     pdf      one text PDF attachment (dense pages of varied words, compressed streams)
     many     ten text PDF attachments sharing the size
     docx     one DOCX attachment (many paragraphs), document.xml written directly
     xlsx     one XLSX attachment (rows of five cells), the sheet XML written directly
     body     a plain-text body only
   With the default `Limits` (25 MB mail, 200 pages, 200,000 characters, 500,000 cells, zip guards)
   mails over 25 MB are refused before parsing; `--unlimited` lifts every limit to find where the
   reading itself breaks the budget.

Lambda gives a function CPU in proportion to its memory: 1,769 MB is one vCPU, so 512 MB is about
0.29 vCPU. A local time t (one core of this machine) is about t x 3.5 on a 512 MB Lambda; the tables
show that estimate against the 60 s timeout.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT / "localrun")]

from ew_local.sample_documents import docx_bytes, eml_bytes, example_inbox, text_pdf, xlsx_bytes  # noqa: E402

INBOX = ROOT / "examples" / "acme" / "inbox"
MB = 1024 * 1024
LAMBDA_MB, LAMBDA_SECONDS = 512, 60
CPU_FACTOR = 1769 / 512  # Lambda's vCPU share at 512 MB is 512/1769 of one core
SHAPES = ("pdf", "many", "docx", "xlsx", "body")
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT / "localrun")])}

_WORDS = [
    *("agreement", "term", "renewal", "policy", "insured", "premium", "cover", "period", "notice", "party"),
    *("supplier", "customer", "service", "charges", "invoice", "schedule", "clause", "obligation"),
    *("liability", "indemnity", "limit", "excess", "territory", "vehicle", "premises", "equipment"),
    *("maintenance", "support", "licence", "certificate", "inspection", "examination", "registration"),
]


# -- generated inputs ------------------------------------------------------------------------------


def _prose(rng: random.Random, chars: int) -> str:
    lines = []
    size = 0
    while size < chars:
        line = " ".join(rng.choice(_WORDS) for _ in range(14)).capitalize() + "."
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


_EXPIRY = "The policy expires on 31 January 2027.\n"


def big_pdf(rng: random.Random, size: int) -> bytes:
    sample = _prose(rng, 100_000)
    ratio = len(text_pdf(sample)) / len(sample)  # bytes of PDF per character of text
    text = _EXPIRY + _prose(rng, int(size / ratio * 1.02))
    return text_pdf(text)


def big_docx(rng: random.Random, size: int) -> bytes:
    template = docx_bytes(["x"])

    def package(chars: int) -> bytes:
        lines = [_EXPIRY.strip(), *_prose(rng, chars).splitlines()]
        xml = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
            + "".join(f"<w:p><w:r><w:t>{line}</w:t></w:r></w:p>" for line in lines)
            + "</w:body></w:document>"
        )
        return _replace_entry(template, "word/document.xml", xml.encode())

    ratio = (len(package(400_000)) - len(template)) / 400_000  # package bytes per character of text
    return package(int(size / ratio))


def big_xlsx(rng: random.Random, size: int) -> bytes:
    """Rows of five inline-string cells, with the <dimension> record Excel writes at the sheet's top."""
    template = xlsx_bytes({"Sheet": [["x"]]})

    def package(count: int) -> bytes:
        rows = ['<row r="1"><c r="A1" t="inlineStr"><is><t>Expiry date</t></is></c>'
                '<c r="B1" t="inlineStr"><is><t>2027-01-31</t></is></c></row>']  # fmt: skip
        for number in range(2, count + 2):
            cells = [*rng.sample(_WORDS, 2), str(rng.randint(1, 10**6)), rng.choice(_WORDS), "x"]
            row = "".join(
                f'<c r="{col}{number}" t="inlineStr"><is><t>{value}</t></is></c>'
                for col, value in zip("ABCDE", cells, strict=True)
            )
            rows.append(f'<row r="{number}">{row}</row>')
        xml = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<dimension ref="A1:E{count + 1}"/><sheetData>' + "".join(rows) + "</sheetData></worksheet>"
        )
        return _replace_entry(template, "xl/worksheets/sheet1.xml", xml.encode())

    ratio = (len(package(20_000)) - len(template)) / 20_000  # package bytes per row
    return package(int(size / ratio))


def _replace_entry(package: bytes, name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, content if info.filename == name else src.read(info.filename))
    return out.getvalue()


def big_mail(shape: str, size: int, seed: int = 1) -> bytes:
    """A mail of about `size` bytes (attachments are base64: 4/3 of their size)."""
    rng = random.Random(seed)
    payload = int(size * 0.74)
    common: dict[str, Any] = {"sender": "Dana <dana@acme.example>", "subject": f"Big {shape}"}
    if shape == "pdf":
        return eml_bytes(**common, text="Attached.", attachments=[("big.pdf", big_pdf(rng, payload))])
    if shape == "many":
        files = [(f"part{n}.pdf", big_pdf(rng, payload // 10)) for n in range(10)]
        return eml_bytes(**common, text="Attached.", attachments=files)
    if shape == "docx":
        return eml_bytes(**common, text="Attached.", attachments=[("big.docx", big_docx(rng, payload))])
    if shape == "xlsx":
        return eml_bytes(**common, text="Attached.", attachments=[("big.xlsx", big_xlsx(rng, payload))])
    if shape == "body":
        return eml_bytes(**common, text=_EXPIRY + _prose(rng, int(size * 0.95)))
    raise ValueError(shape)


# -- children --------------------------------------------------------------------------------------

CHILD = r"""
import json, sys, time

def peak_rss_mb():
    # VmHWM: this process's own peak (ru_maxrss survives exec on Linux: it would show the parent's)
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

unlimited, traced, path = sys.argv[1] == "1", sys.argv[2] == "1", sys.argv[3]
if traced:
    import tracemalloc
    tracemalloc.start()
started = time.perf_counter()
from ew.extraction import extract, read_source, to_draft
from opskit.documents import LIMITS, Limits
imported = time.perf_counter()
limits = LIMITS
if unlimited:
    big = 10**12
    limits = Limits(mail_bytes=big, file_bytes=big, attachments=10**6, text_chars=big, mail_text_chars=big,
                    pdf_pages=10**9, sheet_cells=big, zip_entries=10**9, zip_bytes=big, xml_part_bytes=big,
                    zip_ratio=10**9, seconds=10**9)
with open(path, "rb") as f:
    raw = f.read()
begun = time.perf_counter()
source = read_source("mail.eml", raw, limits=limits)
read = time.perf_counter()
draft = to_draft(extract(source), source)
done = time.perf_counter()
result = {
    "import_s": imported - started, "read_s": read - begun, "extract_s": done - read,
    "total_s": done - begun, "rss_mb": peak_rss_mb(), "found": draft.fields["expiry_date"],
    "text_chars": len(source.text), "problems": list(draft.problems)[:3],
}
if traced:
    result["tracemalloc_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
print(json.dumps(result))
"""


def run_child(path: Path, unlimited: bool, traced: bool, timeout: float) -> dict[str, Any]:
    command = [sys.executable, "-c", CHILD, "1" if unlimited else "0", "1" if traced else "0", str(path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"exit {done.returncode}: {last[:120]}"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- 1. the example documents ------------------------------------------------------------------------


@dataclass
class DocFigure:
    name: str
    size: int
    process_ms: list[float]
    in_process_ms: list[float]
    expiry: str


def bench_documents(runs: int) -> tuple[list[DocFigure], dict[str, Any]]:
    from ew.extraction import extract, read_source, to_draft

    stale = [n for n, data in example_inbox().items() if (INBOX / n).read_bytes() != data]
    if stale:
        raise SystemExit(f"examples/acme/inbox is stale ({', '.join(stale)}): run make example-inbox")
    figures = []
    for path in sorted(INBOX.iterdir()):
        data = path.read_bytes()
        draft = to_draft(extract(read_source(path.name, data)), read_source(path.name, data))  # warm-up
        inner = []
        for _ in range(20):
            started = time.perf_counter()
            source = read_source(path.name, data)
            to_draft(extract(source), source)
            inner.append((time.perf_counter() - started) * 1000)
        outer = []
        for _ in range(runs):
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "ew_local.cli", "extract", str(path), "--json"],
                capture_output=True,
                env=ENV,
                check=False,
            )
            outer.append((time.perf_counter() - started) * 1000)
            if done.returncode != 0:
                raise SystemExit(f"ew extract {path.name} exited {done.returncode}: {done.stdout!r}")
        figures.append(DocFigure(path.name, len(data), outer, inner, draft.fields["expiry_date"]))

    probe = (
        "import sys, time\nt = time.perf_counter()\nimport opskit.documents\nd = time.perf_counter()\n"
        "import ew.extraction\ne = time.perf_counter()\n"
        "heavy = sorted(m for m in ('pypdf', 'docx', 'openpyxl') if m in sys.modules)\n"
        "print((d - t) * 1000, (e - d) * 1000, ','.join(heavy))"
    )
    imports = []
    for _ in range(runs):
        command = [sys.executable, "-c", probe]
        out = subprocess.run(command, capture_output=True, text=True, env=ENV, check=True)
        documents_ms, extraction_ms, heavy = out.stdout.split(" ")
        imports.append((float(documents_ms), float(extraction_ms), heavy.strip()))
    cold = {
        "documents_ms": statistics.median(i[0] for i in imports),
        "extraction_ms": statistics.median(i[1] for i in imports),
        "heavy_imported": sorted({i[2] for i in imports if i[2]}),
    }
    return figures, cold


# -- 2. big mails ----------------------------------------------------------------------------------


def bench_mails(
    shapes: list[str], sizes_mb: list[float], unlimited: bool, timeout: float
) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for shape in shapes:
            for size_mb in sizes_mb:
                started = time.perf_counter()
                raw = big_mail(shape, int(size_mb * MB))
                path = Path(folder) / f"{shape}-{size_mb}.eml"
                path.write_bytes(raw)
                made = time.perf_counter() - started
                figure: dict[str, Any] = {"shape": shape, "size_mb": len(raw) / MB, "unlimited": unlimited}
                figure.update(run_child(path, unlimited, traced=False, timeout=timeout))
                if _fits(figure):  # tracing doubles the time: only where it is worth it
                    traced = run_child(path, unlimited, traced=True, timeout=timeout * 3)
                    figure["tracemalloc_mb"] = traced.get("tracemalloc_mb")
                results.append(figure)
                print(_mail_row(figure), f"(generated in {made:.1f} s)", flush=True)
                path.unlink()
                if not _fits(figure):
                    break  # larger sizes of this shape only fail harder
    return results


def _lambda_seconds(figure: dict[str, Any]) -> float:
    return float(figure["import_s"] + figure["total_s"]) * CPU_FACTOR


def _fits(figure: dict[str, Any]) -> bool:
    return (
        "error" not in figure and figure["rss_mb"] <= LAMBDA_MB and _lambda_seconds(figure) <= LAMBDA_SECONDS
    )


def _mail_row(f: dict[str, Any]) -> str:
    head = f"| {f['shape']} | {f['size_mb']:.1f} MB | {'no limits' if f['unlimited'] else 'default'} |"
    if "error" in f:
        return f"{head} {f['error']} | | | | | |"
    lambda_s = _lambda_seconds(f)
    fits = "yes" if _fits(f) else "**no**"
    traced = f.get("tracemalloc_mb")
    problems = "; ".join(p[:70] for p in f["problems"][:1])
    return (
        f"{head} {f['total_s']:.2f} s (read {f['read_s']:.2f}) | {f['rss_mb']:.0f} MB | "
        f"{'' if traced is None else f'{traced:.0f} MB'} | ~{lambda_s:.0f} s | {fits} | "
        f"{f['found'] or 'none'} | {problems} |"
    )


def main(argv: list[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer runs")
    parser.add_argument("--runs", type=int, default=5, help="fresh `ew extract` processes per document")
    parser.add_argument("--sizes", type=float, nargs="+", help="mail sizes in MB")
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    parser.add_argument("--unlimited", action="store_true", help="also run every size with no limits")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per child process")
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    args = parser.parse_args(argv)
    runs = 3 if args.quick else args.runs
    sizes = args.sizes or ([1, 5] if args.quick else [1, 5, 10, 20, 24, 40])

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}\n")
    documents, cold = bench_documents(runs)
    columns = (
        "document | size | `ew extract --json`, fresh process (median / min) | in process (median) | expiry"
    )
    print(f"| {columns} |")
    print("|---|---:|---:|---:|---|")
    for d in documents:
        print(
            f"| {d.name} | {d.size / 1024:.0f} KB | {statistics.median(d.process_ms):.0f} / "
            f"{min(d.process_ms):.0f} ms | {statistics.median(d.in_process_ms):.1f} ms | {d.expiry} |"
        )
    heavy = ", ".join(cold["heavy_imported"]) or "none"
    print(
        f"\ncold import: opskit.documents {cold['documents_ms']:.0f} ms, then ew.extraction "
        f"{cold['extraction_ms']:.0f} ms; pypdf/docx/openpyxl imported: {heavy}\n"
    )
    header = (
        "| shape | mail | limits | read + extract | peak RSS | tracemalloc peak | ~512 MB Lambda | fits "
        "| expiry | first problem |"
    )
    print(header)
    print("|---|---:|---|---:|---:|---:|---:|---|---|---|")
    mails = bench_mails(args.shapes, sizes, unlimited=False, timeout=args.timeout)
    if args.unlimited:
        mails += bench_mails(args.shapes, sizes, unlimited=True, timeout=args.timeout)
    if args.json:
        data = {"documents": [d.__dict__ for d in documents], "cold_import": cold, "mails": mails}
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 1 if cold["heavy_imported"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""The workspace's Forward box over HTTP, without a browser: a file posted to /forward (a multipart form,
as the page's file input and drop zone send it) reaches the inbound address as a forwarded mail, the real
intake-parser posts its proposal card in #intake, and Approve adds the row to the sheet. Bad uploads are
refused in words, with nothing sent."""

from __future__ import annotations

import email
import http.client
import re
from collections.abc import Iterator
from email import policy
from urllib.parse import urlsplit

import pytest
from test_workspace_server import EXAMPLE, MONDAY, SHEET, Client, text

from ew_local.cloud import NAMES, LocalCloud
from ew_local.sample_documents import WASTE_AGREEMENT, example_inbox, text_pdf
from ew_local.workspace.forwarding import FILE_LIMIT, UPLOAD_LIMIT
from ew_local.workspace.server import WorkspaceServer
from ew_local.workspace.session import Workspace

INTAKE = "C04INTAKE1"
SETTINGS = {"timezone": "Europe/London", "holidays": "GB-ENG", "admin": "ops@acme.example",
            "intake_channel": INTAKE}  # fmt: skip
CHANNELS = {"C04DIGEST1": "digest", INTAKE: "intake"}
BOUNDARY = "----WebKitFormBoundaryEw0123456789"
PDF = text_pdf(WASTE_AGREEMENT, title="Commercial Waste Collection Agreement")


def start(settings: dict[str, str]) -> Iterator[tuple[WorkspaceServer, Client]]:
    rules, voice = (EXAMPLE / "rules.txt").read_bytes(), (EXAMPLE / "voice.txt").read_bytes()
    with LocalCloud(settings) as cloud, Workspace(cloud, MONDAY, "Europe/London", CHANNELS) as ws:
        cloud.mirror(SHEET.encode(), rules, voice)
        ws.first_tick()
        with WorkspaceServer(ws) as server:
            yield server, Client(server)
        assert server.errors == []


@pytest.fixture
def monday() -> Iterator[tuple[WorkspaceServer, Client]]:
    yield from start(SETTINGS)


def upload(server: WorkspaceServer, name: str, data: bytes, content_type: str = "") -> str:
    """Post the file as a browser posts the Forward form; the redirect's target."""
    declared = f"Content-Type: {content_type or 'application/octet-stream'}\r\n" if name else ""
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n{declared}\r\n'
    ).encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()  # fmt: skip
    connection = http.client.HTTPConnection("127.0.0.1", urlsplit(server.url).port, timeout=60)
    connection.request("POST", "/forward", body=body,
                       headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})  # fmt: skip
    answer = connection.getresponse()
    answer.read()
    connection.close()
    assert answer.status == 303
    return answer.getheader("Location") or ""


def banner(page: str) -> tuple[str, str]:
    """(role, words) of what the page says about the forward."""
    found = re.search(r'<div class="[^"]*" id="forwarded" role="(\w+)">(.*?)</div>', page)
    assert found, page
    return found.group(1), text(found.group(2))


def inbound(cloud: LocalCloud) -> list[str]:
    listed = cloud.s3.list_objects_v2(Bucket=NAMES["EW_RAW_MIME_BUCKET"], Prefix="inbound/")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_a_forwarded_pdf_becomes_a_proposal_whose_approve_adds_the_sheet_row(
    monday: tuple[WorkspaceServer, Client],
) -> None:
    server, client = monday
    assert 'action="/forward" enctype="multipart/form-data"' in client.get("/")
    assert upload(server, "waste-collection-agreement.pdf", PDF, "application/pdf") == f"/?c={INTAKE}&f=f1"

    page = client.get(f"/?c={INTAKE}&f=f1")
    assert banner(page) == ("status", "waste-collection-agreement.pdf reached expires@acme.example: "
                            "intake-parser proposes a row expiring 31 Jan 2027 in #intake. Approve adds it "
                            "to the sheet.")  # fmt: skip
    words = text(page)
    # The offline reader names the item after the mail's subject, the file's name.
    assert "# intake" in words and "Proposed new item: Waste-collection-agreement.pdf" in words
    assert "Expiry date: 2027-01-31" in words
    assert "in an email from ops@acme.example «Fwd: waste-collection-agreement.pdf»" in words
    assert '<span class="badge">new</span>' in page
    # The mail SES would have stored: from the forwarder, to the inbound address, the PDF intact.
    cloud = server.workspace.cloud
    [key] = inbound(cloud)
    raw = cloud.s3.get_object(Bucket=NAMES["EW_RAW_MIME_BUCKET"], Key=key)["Body"].read()
    mail = email.message_from_bytes(raw, policy=policy.default)
    assert (mail["From"], mail["To"]) == ("ops@acme.example", "expires@acme.example")
    assert "Mon, 23 Nov 2026 08:0" in mail["Date"]  # the simulated clock
    [attached] = mail.iter_attachments()
    assert attached.get_content_type() == "application/pdf" and attached.get_content() == PDF

    [card] = cloud.slack.in_channel(INTAKE)
    assert client.post("/click", {"channel": INTAKE, "ts": card["ts"], "action": "proposal_approve"}) == (
        f"/?c={INTAKE}#m-{card['ts']}"
    )
    words = text(client.get(f"/?c={INTAKE}"))
    assert "Approved by @U0YOU00001 on 23 Nov 2026: added to the sheet as ACME-005 (row 4)." in words
    assert "You pressed Approve on a proposal." in words
    sheet = client.get("/sheet")
    row = re.search(r'<tr class=changed data-row="4">.*?</tr>', sheet)
    assert row, sheet
    assert "Waste-collection-agreement.pdf" in row.group(0) and "2027-01-31" in row.group(0)
    assert upload(server, "waste-collection-agreement.pdf", PDF) == f"/?c={INTAKE}&f=f2"  # forwarded again
    assert len(cloud.slack.in_channel(INTAKE)) == 2  # a second forward is a second mail: a second card


def test_a_saved_mail_goes_as_it_is_and_the_same_mail_twice_gives_one_card(
    monday: tuple[WorkspaceServer, Client],
) -> None:
    server, client = monday
    saved = example_inbox()["waste-collection-agreement.eml"]
    assert upload(server, "waste-collection-agreement.eml", saved, "message/rfc822") == f"/?c={INTAKE}&f=f1"
    words = text(client.get(f"/?c={INTAKE}&f=f1"))
    assert "in an email from dana@acme.example «Fwd: Signed waste collection agreement»" in words
    cloud = server.workspace.cloud
    assert cloud.s3.get_object(Bucket=NAMES["EW_RAW_MIME_BUCKET"], Key=inbound(cloud)[0])["Body"].read() == (
        saved
    )

    upload(server, "waste-collection-agreement.eml", saved, "message/rfc822")
    assert banner(client.get(f"/?c={INTAKE}&f=f2")) == (
        "status",
        "waste-collection-agreement.eml reached expires@acme.example, but intake-parser had already taken "
        "this mail (the same Message-ID): no second proposal; the first is in #intake.",
    )
    assert len(cloud.slack.in_channel(INTAKE)) == 1


@pytest.mark.parametrize(
    ("name", "data", "said"),
    [
        ("notes.txt", b"", "notes.txt is empty (0 bytes): there is nothing to forward. Nothing was sent."),
        ("", b"", "Choose a file first, or drop one on the Forward box."),
        (
            "contracts.zip",
            b"PK\x05\x06" + b"\0" * 18,
            "contracts.zip was not forwarded: .zip files are not read; only PDF, DOCX, XLSX, text and HTML "
            "files are read, and saved mails (.eml). Nothing was sent.",
        ),
        (
            "lease.doc",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old word",
            "lease.doc was not forwarded: the old Word .doc format is not read; save it as .docx or PDF and "
            "send it again. Nothing was sent.",
        ),
        (
            "scan.pdf",
            b"%PDF-1.4\n" + b"0" * FILE_LIMIT,
            "scan.pdf is 18.2 MB: too large to forward here (files up to 18.2 MB, saved mails (.eml) up to "
            "25.0 MB: intake-parser reads mails up to 25.0 MB, and a file grows by a third when mailed). "
            "Nothing was sent.",
        ),
    ],
    ids=["empty", "no file chosen", "unknown type", "old office", "over the file limit"],
)
def test_a_bad_upload_is_refused_in_words_and_nothing_is_sent(
    monday: tuple[WorkspaceServer, Client], name: str, data: bytes, said: str
) -> None:
    server, client = monday
    location = upload(server, name, data)
    assert banner(client.get(location)) == ("alert", said)
    assert said in text(client.get("/"))  # and in What happened
    assert inbound(server.workspace.cloud) == [] and server.workspace.cloud.slack.in_channel(INTAKE) == []


def test_an_upload_past_the_request_limit_is_read_off_and_refused(
    monday: tuple[WorkspaceServer, Client],
) -> None:
    server, client = monday
    location = upload(server, "archive.pdf", b"%PDF-1.4\n" + b"0" * UPLOAD_LIMIT)
    role, said = banner(client.get(location))
    assert (role, said.split(" (")[0]) == ("alert", "archive.pdf is 25.1 MB: too large to forward here")
    assert inbound(server.workspace.cloud) == []
    assert upload(server, "small.pdf", PDF) == f"/?c={INTAKE}&f=f2"  # the server reads on


def test_a_broken_pdf_gets_intakes_could_not_read_card_and_the_page_says_so(
    monday: tuple[WorkspaceServer, Client],
) -> None:
    server, client = monday
    location = upload(server, "cut.pdf", PDF[:300], "application/pdf")
    page = client.get(location)
    role, said = banner(page)
    assert role == "alert"
    assert said.startswith("cut.pdf reached expires@acme.example: intake-parser's proposal in #intake needs "
                           "a look: could not read cut.pdf: the PDF is incomplete")  # fmt: skip
    assert "could not read cut.pdf: the PDF is incomplete" in text(page.split('id="conversation"')[1])
    [card] = server.workspace.cloud.slack.in_channel(INTAKE)
    assert "Approve" in str(card["blocks"])  # the row can still be filled in by hand


def test_without_an_intake_channel_the_mail_waits_in_the_bucket() -> None:
    for server, client in start({k: v for k, v in SETTINGS.items() if k != "intake_channel"}):
        location = upload(server, "waste-collection-agreement.pdf", PDF)
        assert location == "/?f=f1"
        assert banner(client.get(location)) == (
            "alert",
            "waste-collection-agreement.pdf reached expires@acme.example (the raw-mime bucket keeps it), but "
            "intake-parser cannot post a proposal: /ew/config/intake_channel is not set: nowhere to post "
            "proposals.",
        )
        assert len(inbound(server.workspace.cloud)) == 1


def test_when_slack_is_down_the_page_says_intake_failed_and_the_mail_waits(
    monday: tuple[WorkspaceServer, Client],
) -> None:
    server, client = monday
    server.workspace.cloud.slack.fail("chat.postMessage", status=500, times=50)
    role, said = banner(client.get(upload(server, "waste-collection-agreement.pdf", PDF)))
    assert role == "alert"
    assert said.startswith("waste-collection-agreement.pdf reached expires@acme.example, but intake-parser "
                           "failed:")  # fmt: skip
    assert said.endswith("On AWS, Lambda retries it twice, then parks the event in the dead-letter queue; "
                         "the mail stays in the raw-mime bucket.")  # fmt: skip
    assert len(inbound(server.workspace.cloud)) == 1

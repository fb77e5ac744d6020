"""The local Google stand-in itself: OAuth token issuing, bearer checks, the Sheets v4 endpoints over its
grid, A1 ranges, scripted faults and delays. Raw HTTP where the wire matters, the real client elsewhere."""

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import google_auth_httplib2
import httplib2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.exceptions import RefreshError
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from ew_local.fake_google import GOOGLE_TOKEN_ENDPOINT, JWT_BEARER, FakeGoogle, service_account_info

GRID = [
    ["item_id", "item", "expiry_date"],
    ["A-1", "Lease", "2026-03-01"],
    ["A-2", "Van insurance", "1 Mar 2027"],
]


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        fake.add_sheet("s1", "Registry", [row[:] for row in GRID])
        fake.add_sheet("s1", "Notes and more", [["a", "b"], ["c"]])
        yield fake


def _credentials(info: dict[str, str]) -> service_account.Credentials:
    scopes = ["https://www.googleapis.com/auth/spreadsheets"]
    return service_account.Credentials.from_service_account_info(info, scopes=scopes)


def _token(fake: FakeGoogle) -> str:
    credentials = _credentials(service_account_info(fake))
    credentials.refresh(google_auth_httplib2.Request(httplib2.Http(timeout=5)))
    return str(credentials.token)


def _service(fake: FakeGoogle) -> Any:
    http = google_auth_httplib2.AuthorizedHttp(
        _credentials(service_account_info(fake)), http=httplib2.Http(timeout=5)
    )
    return build(
        "sheets",
        "v4",
        http=http,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": fake.url},
    )


def _http(
    fake: FakeGoogle, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(fake.url + path.lstrip("/"), data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _values_path(range_: str, spreadsheet: str = "s1") -> str:
    return f"/v4/spreadsheets/{spreadsheet}/values/{urllib.parse.quote(range_, safe='')}"


# -- OAuth -----------------------------------------------------------------------------------------


def test_the_jwt_bearer_grant_issues_a_bearer_token(fake):
    token = _token(fake)
    assert token.startswith("ya29.fake-")
    [call] = fake.calls("/token")
    assert call.method == "POST"
    assert call.body["grant_type"] == JWT_BEARER
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert fake.tokens_issued == 1


def test_the_token_answer_is_what_google_sends(fake):
    assertion = _credentials(service_account_info(fake))._make_authorization_grant_assertion()
    form = urllib.parse.urlencode({"grant_type": JWT_BEARER, "assertion": assertion}).encode()
    request = urllib.request.Request(fake.url + "token", data=form, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        answer = json.loads(response.read())
    assert answer == {"access_token": answer["access_token"], "expires_in": 3600, "token_type": "Bearer"}
    assert _http(fake, "GET", "/v4/spreadsheets/s1", token=answer["access_token"])[0] == 200


def test_other_grants_and_bad_signatures_are_refused(fake):
    form = urllib.parse.urlencode({"grant_type": "client_credentials"}).encode()
    request = urllib.request.Request(fake.url + "token", data=form, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["error"] == "unsupported_grant_type"

    # A JWT from a known service account signed with another key is refused.
    other = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    forged = _credentials({**service_account_info(fake), "private_key": pem})
    with pytest.raises(RefreshError, match="Invalid JWT Signature"):
        forged.refresh(google_auth_httplib2.Request(httplib2.Http(timeout=5)))


def test_the_jwt_is_addressed_to_google_and_names_the_scope(fake):
    _token(fake)
    assertion = fake.calls("/token")[0].body["assertion"]
    claims = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
    assert claims["aud"] == GOOGLE_TOKEN_ENDPOINT
    assert claims["iss"] == "ops-sync@fake-project.iam.gserviceaccount.com"
    assert claims["scope"] == "https://www.googleapis.com/auth/spreadsheets"


def test_api_calls_need_an_issued_bearer_token(fake):
    status, body = _http(fake, "GET", "/v4/spreadsheets/s1")
    assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"
    assert _http(fake, "GET", "/v4/spreadsheets/s1", token="ya29.made-up")[0] == 401
    assert _http(fake, "GET", "/v4/spreadsheets/s1", token=_token(fake))[0] == 200


def test_expired_tokens_make_the_real_client_fetch_a_new_one(fake):
    service = _service(fake)
    service.spreadsheets().get(spreadsheetId="s1").execute()
    fake.expire_tokens()
    service.spreadsheets().get(spreadsheetId="s1").execute()
    assert fake.tokens_issued == 2
    statuses = [c.path for c in fake.calls()]
    assert statuses == [
        "/token",
        "/v4/spreadsheets/s1",
        "/v4/spreadsheets/s1",
        "/token",
        "/v4/spreadsheets/s1",
    ]


def test_service_account_info_is_a_complete_json_with_one_key_per_process(fake):
    first = service_account_info(fake)
    second = service_account_info(fake, client_email="other@proj-2.iam.gserviceaccount.com")
    assert first["type"] == "service_account"
    assert first["token_uri"] == fake.url + "token"
    assert first["private_key"].startswith("-----BEGIN PRIVATE KEY-----\n")
    assert first["private_key"] == second["private_key"]  # generated once, cached
    assert second["client_email"] == "other@proj-2.iam.gserviceaccount.com"
    assert second["project_id"] == "proj-2"
    assert set(first) >= {"project_id", "private_key_id", "client_id", "universe_domain"}
    json.dumps(first)  # serialisable as the secret would hold it


# -- Sheets v4 -------------------------------------------------------------------------------------


def test_spreadsheets_get_lists_the_tabs_in_order(fake):
    answer = _service(fake).spreadsheets().get(spreadsheetId="s1").execute()
    assert [s["properties"]["title"] for s in answer["sheets"]] == ["Registry", "Notes and more"]
    assert [s["properties"]["index"] for s in answer["sheets"]] == [0, 1]
    assert answer["sheets"][0]["properties"]["sheetId"] == 0
    with pytest.raises(HttpError) as missing:
        _service(fake).spreadsheets().get(spreadsheetId="nope").execute()
    assert missing.value.resp.status == 404


@pytest.mark.parametrize(
    ("range_", "answered_range", "values"),
    [
        ("Registry", "Registry!A1:Z1000", GRID),
        ("'Registry'!A1:Z", "Registry!A1:Z1000", GRID),
        ("Registry!B2:C3", "Registry!B2:C3", [["Lease", "2026-03-01"], ["Van insurance", "1 Mar 2027"]]),
        ("Registry!C5:D5", "Registry!C5:D5", None),
        ("Registry!1:1", "Registry!A1:Z1", [GRID[0]]),
        ("Registry!B:B", "Registry!B1:B1000", [["item"], ["Lease"], ["Van insurance"]]),
        ("Registry!A3", "Registry!A3", [["A-2"]]),
        ("A1:B2", "Registry!A1:B2", [["item_id", "item"], ["A-1", "Lease"]]),
        ("'Notes and more'", "'Notes and more'!A1:Z1000", [["a", "b"], ["c"]]),
        ("'Notes and more'!B1:B2", "'Notes and more'!B1:B2", [["b"]]),
    ],
)
def test_values_get_reads_a1_ranges(fake, range_, answered_range, values):
    answer = _service(fake).spreadsheets().values().get(spreadsheetId="s1", range=range_).execute()
    assert answer["range"] == answered_range
    assert answer.get("values") == values


@pytest.mark.parametrize("range_", ["Nope!A1", "'Nope'", "Registry!A1:B2:C3", "Registry!!", "Registry!A0"])
def test_unknown_tabs_and_bad_ranges_are_a_400(fake, range_):
    status, body = _http(fake, "GET", _values_path(range_), token=_token(fake))
    assert status == 400
    assert body["error"]["message"] == f"Unable to parse range: {range_}"


def test_batch_update_writes_cells_and_user_entered_drops_the_text_apostrophe(fake):
    data = [
        {"range": "'Registry'!C2", "values": [["2027-03-01"]]},
        {"range": "Registry!A4:B4", "values": [["A-3", "'=SUM(1)"]]},
    ]
    answer = (
        _service(fake)
        .spreadsheets()
        .values()
        .batchUpdate(spreadsheetId="s1", body={"valueInputOption": "USER_ENTERED", "data": data})
        .execute()
    )
    assert answer["totalUpdatedCells"] == 3
    assert [r["updatedRange"] for r in answer["responses"]] == ["Registry!C2", "Registry!A4:B4"]
    assert fake.rows("s1", "Registry") == [
        GRID[0],
        ["A-1", "Lease", "2027-03-01"],
        GRID[2],
        ["A-3", "=SUM(1)"],
    ]


def test_batch_update_raw_keeps_values_as_sent(fake):
    body = {"valueInputOption": "RAW", "data": [{"range": "Registry!B2", "values": [["'quoted"]]}]}
    _service(fake).spreadsheets().values().batchUpdate(spreadsheetId="s1", body=body).execute()
    assert fake.rows("s1", "Registry")[1] == ["A-1", "'quoted", "2026-03-01"]


def test_batch_update_refuses_without_an_input_option_or_beyond_its_range_and_writes_nothing(fake):
    token = _token(fake)
    path = "/v4/spreadsheets/s1/values:batchUpdate"
    status, body = _http(fake, "POST", path, {"data": []}, token=token)
    assert status == 400 and "valueInputOption" in body["error"]["message"]
    data = [
        {"range": "Registry!C2", "values": [["ok"]]},
        {"range": "Registry!C3", "values": [["too", "wide"]]},
    ]
    status, body = _http(fake, "POST", path, {"valueInputOption": "RAW", "data": data}, token=token)
    assert status == 400
    assert body["error"]["message"] == (
        "Requested writing within range [Registry!C3], but tried writing to column [D]"
    )
    assert fake.rows("s1", "Registry") == GRID


def test_append_writes_after_the_table_and_reports_where(fake):
    answer = (
        _service(fake)
        .spreadsheets()
        .values()
        .append(
            spreadsheetId="s1",
            range="'Registry'!A1",
            valueInputOption="USER_ENTERED",
            insertDataOption="INSERT_ROWS",
            body={"values": [["A-3", "Permit", ""]]},
        )
        .execute()
    )
    assert answer["tableRange"] == "Registry!A1:C3"
    assert answer["updates"]["updatedRange"] == "Registry!A4:C4"
    assert fake.rows("s1", "Registry") == [*GRID, ["A-3", "Permit"]]


def test_append_inserts_rows_before_anything_below_a_gap_or_overwrites(fake):
    fake.add_sheet("s1", "Gappy", [["h"], ["1"], [], ["footer"]])
    token = _token(fake)
    path = _values_path("Gappy!A1") + ":append?valueInputOption=RAW&insertDataOption=INSERT_ROWS"
    status, answer = _http(fake, "POST", path, {"values": [["2"], ["3"]]}, token=token)
    assert status == 200 and answer["updates"]["updatedRange"] == "Gappy!A3:A4"
    assert fake.rows("s1", "Gappy") == [["h"], ["1"], ["2"], ["3"], [], ["footer"]]
    path = _values_path("Gappy!A1") + ":append?valueInputOption=RAW"
    _http(fake, "POST", path, {"values": [["4"]]}, token=token)
    assert fake.rows("s1", "Gappy") == [["h"], ["1"], ["2"], ["3"], ["4"], ["footer"]]


def test_append_to_an_empty_tab_starts_at_the_range(fake):
    fake.add_sheet("s1", "Empty", [])
    token = _token(fake)
    path = _values_path("Empty!A1") + ":append?valueInputOption=RAW"
    status, answer = _http(fake, "POST", path, {"values": [["x", "y"]]}, token=token)
    assert status == 200 and answer["updates"]["updatedRange"] == "Empty!A1:B1"
    assert "tableRange" not in answer
    assert fake.rows("s1", "Empty") == [["x", "y"]]


def test_calls_are_recorded_decoded(fake):
    _service(fake).spreadsheets().values().get(spreadsheetId="s1", range="'Notes and more'!A1").execute()
    [call] = fake.api_calls()
    assert (call.method, call.path) == ("GET", "/v4/spreadsheets/s1/values/'Notes and more'!A1")
    assert call.headers["authorization"].startswith("Bearer ya29.fake-")
    assert call.query["alt"] == "json"


def test_unknown_endpoints_are_a_404_naming_the_path(fake):
    status, body = _http(fake, "GET", "/drive/v3/files/abc", token=_token(fake))
    assert status == 404
    assert body["error"]["message"] == "fake_google has no handler for GET /drive/v3/files/abc"


def test_endpoints_per_api(fake):
    assert fake.endpoint("sheets") == fake.url
    assert fake.endpoint("drive") == fake.url + "drive/v3/"
    assert fake.endpoint("calendar") == fake.url + "calendar/v3/"


# -- scripting -------------------------------------------------------------------------------------


def test_fail_answers_google_style_errors_the_given_number_of_times(fake):
    service = _service(fake)
    fake.fail("/values/", 403, times=2, message="The caller does not have permission")
    for _ in range(2):
        with pytest.raises(HttpError) as refused:
            service.spreadsheets().values().get(spreadsheetId="s1", range="Registry").execute()
        assert refused.value.resp.status == 403
        assert json.loads(refused.value.content)["error"] == {
            "code": 403,
            "message": "The caller does not have permission",
            "status": "PERMISSION_DENIED",
        }
    service.spreadsheets().get(spreadsheetId="s1").execute()  # other paths unaffected
    assert service.spreadsheets().values().get(spreadsheetId="s1", range="Registry").execute()["values"]


def test_fail_on_the_token_endpoint_answers_an_oauth_error(fake):
    fake.fail("/token", 400, message="Invalid JWT Signature.")
    with pytest.raises(RefreshError, match="Invalid JWT Signature"):
        _token(fake)
    assert _token(fake)


def test_delay_slows_only_matching_paths_and_can_be_limited(fake):
    service = _service(fake)
    service.spreadsheets().get(spreadsheetId="s1").execute()  # fetch the token first
    fake.delay("values:batchUpdate", 1, times=1)  # far above a request's own time, even on a busy machine
    started = time.monotonic()
    service.spreadsheets().values().get(spreadsheetId="s1", range="Registry").execute()
    assert time.monotonic() - started < 0.9
    started = time.monotonic()
    body = {"valueInputOption": "RAW", "data": []}
    service.spreadsheets().values().batchUpdate(spreadsheetId="s1", body=body).execute()
    assert time.monotonic() - started >= 1
    again = time.monotonic()
    service.spreadsheets().values().batchUpdate(spreadsheetId="s1", body=body).execute()
    assert time.monotonic() - again < 0.9


def test_reset_forgets_calls_and_scripts_but_keeps_sheets_and_tokens(fake):
    service = _service(fake)
    service.spreadsheets().get(spreadsheetId="s1").execute()
    fake.fail("/v4/", 500)
    fake.delay("/v4/", 5)
    fake.reset()
    assert fake.calls() == []
    service.spreadsheets().get(spreadsheetId="s1").execute()
    assert [c.path for c in fake.calls()] == ["/v4/spreadsheets/s1"]  # the token still works
    assert fake.rows("s1", "Registry") == GRID
    assert fake.tabs("s1") == ["Registry", "Notes and more"]


def test_add_sheet_replaces_a_tab_in_place_and_rows_trims_blanks(fake):
    fake.add_sheet("s1", "Registry", [["x", "", ""], ["", ""], []])
    assert fake.rows("s1", "Registry") == [["x"]]
    assert fake.tabs("s1") == ["Registry", "Notes and more"]


def test_the_server_stops_and_url_needs_a_started_fake():
    fake = FakeGoogle()
    with pytest.raises(RuntimeError, match="not started"):
        _ = fake.url
    fake.start()
    url = fake.url
    fake.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "v4/spreadsheets/s1", timeout=2)

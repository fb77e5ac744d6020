"""template.yaml is the one place a table's keys are written: the local runner, the tests and the benchmarks
create the tables from it (ew_local.tables), and the rows the code writes and the keys it reads by must
fit it. A key renamed or retyped on either side fails here, before it fails on AWS."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ew import runtime
from ew.audit import AuditLog
from ew.chain import ACK_ONLY, FIRST_ALERT, Ack, Ping
from ew.store import SENDING, ChainStore
from ew_local.tables import TEMPLATE, create_tables, read_template, table_names, table_specs
from opskit.state import Held, StateTable

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
PING = Ping("IT-1", date(2026, 6, 30), 0, FIRST_ALERT, date(2026, 5, 1), "U0OWNER01")


@pytest.mark.xdist_group("cfn-lint")  # the worker that has cfn-lint imported anyway
def test_the_local_reader_sees_the_template_as_cfn_lint_does() -> None:
    from cfnlint.decode import decode

    decoded, problems = decode(str(TEMPLATE))
    assert not problems and decoded is not None
    assert read_template() == decoded


def test_every_table_is_created_with_the_template_keys_billing_and_ttl(dynamodb: Any) -> None:
    specs = table_specs()
    assert sorted(dynamodb.list_tables()["TableNames"]) == sorted(s.name for s in specs)
    for spec in specs:
        table = dynamodb.describe_table(TableName=spec.name)["Table"]
        types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        keys = tuple(
            (k["AttributeName"], k["KeyType"], types[k["AttributeName"]]) for k in table["KeySchema"]
        )
        assert keys == spec.keys, spec.logical_id
        assert table["BillingModeSummary"]["BillingMode"] == spec.properties["BillingMode"]
        ttl = dynamodb.describe_time_to_live(TableName=spec.name)["TimeToLiveDescription"]
        expected = ("ENABLED", spec.ttl_attribute) if spec.ttl_attribute else ("DISABLED", None)
        assert (ttl["TimeToLiveStatus"], ttl.get("AttributeName")) == expected, spec.logical_id


def test_creating_the_tables_again_is_harmless(dynamodb: Any) -> None:
    create_tables(dynamodb)
    assert len(dynamodb.list_tables()["TableNames"]) == len(table_specs())


def test_every_table_reaches_the_functions_through_a_variable_runtime_reads() -> None:
    source = Path(runtime.__file__ or "").read_text(encoding="utf-8")
    for spec in table_specs():
        assert spec.env, f"{spec.logical_id} is not passed to the functions in Globals"
        assert f'"{spec.env}"' in source, f"ew/runtime.py never reads {spec.env}"
    assert table_names("acme")["EW_PINGS_TABLE"] == "acme-pings"


def test_the_rows_the_code_writes_and_reads_fit_the_template_keys(dynamodb: Any) -> None:
    names = table_names()
    store = ChainStore(
        dynamodb, names["EW_PINGS_TABLE"], names["EW_ACK_TABLE"], names["EW_ARCHIVE_TABLE"], clock=lambda: NOW
    )
    audit = AuditLog(dynamodb, names["EW_AUDIT_TABLE"])
    state = StateTable(dynamodb, names["EW_STATE_TABLE"])

    # Every write path the code has, and a read by key after each: both fail on a key the template lacks.
    assert store.claim(PING, NOW, "slack", SENDING)
    assert store.get(PING.item_id, PING.chain_index) is not None
    store.record_ack(Ack(PING.item_id, PING.cycle_expiry, ACK_ONLY, NOW, by="U0OWNER01"), chain_index=0)
    assert store.load()[1] != []
    audit.record(PING.item_id, ACK_ONLY, "U0OWNER01", {}, {"acked": True}, NOW)
    assert audit.for_item(PING.item_id) != []
    held = state.claim("click", "T1", {"by": "U0OWNER01"}, NOW, lease=timedelta(seconds=30))
    assert isinstance(held, Held)
    state.complete(held)
    assert state.get("click", "T1") is not None
    assert store.archive([PING]) == 1
    assert store.claim(replace(PING, chain_index=1), NOW, "email", SENDING)  # pings is empty after archive

    for spec in table_specs():
        rows = dynamodb.scan(TableName=spec.name)["Items"]
        assert rows, f"nothing in {spec.name}: the test misses a write path"
        for row in rows:
            assert {name: next(iter(row.get(name, {"missing": 0}))) for name, _, _ in spec.keys} == {
                name: kind for name, _, kind in spec.keys
            }, spec.logical_id
            if spec.ttl_attribute:
                assert list(row[spec.ttl_attribute]) == ["N"], f"{spec.name}: TTL must be epoch seconds"

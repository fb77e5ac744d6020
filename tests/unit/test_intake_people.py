"""The owners intake-parser lets a model name: those of the mirrored registry, read as the tick reads
it; a registry that is missing or unusable gives none (the sender is then the only owner), and is never
blamed on the mail."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from ew.intake import registry_people

BUCKET = "ew-registry"


@pytest.fixture
def s3(moto_aws: None) -> Any:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def mirror(s3: Any, text: str) -> None:
    s3.put_object(Bucket=BUCKET, Key="registry.csv", Body=text.encode())


def test_the_owners_and_owner_emails_of_the_registry(s3: Any) -> None:
    mirror(
        s3,
        "item_id,item,expiry_date,owner,owner_email\n"
        "A-1,Lease,2027-01-01,U04LEASE01,li@acme.example\n"
        "A-2,Van,2027-02-01,dana@acme.example,\n",
    )
    assert registry_people(s3, BUCKET, None) == ["U04LEASE01", "dana@acme.example", "li@acme.example"]


def test_the_configured_date_order_is_used(s3: Any) -> None:
    mirror(s3, "item_id,item,expiry_date,owner\nA-1,Lease,03/01/2027,U04LEASE01\n")
    assert registry_people(s3, BUCKET, None) == []  # a numeric date needs the date order: row skipped
    assert registry_people(s3, BUCKET, "mdy") == ["U04LEASE01"]


def test_a_registry_not_mirrored_yet_or_unusable_gives_no_owners(s3: Any) -> None:
    assert registry_people(s3, BUCKET, None) == []
    mirror(s3, "item,expiry_date\nLease,2027-01-01\n")  # no item_id or owner column
    assert registry_people(s3, BUCKET, None) == []


def test_an_unreadable_registry_bucket_gives_no_owners(s3: Any) -> None:
    assert registry_people(s3, "no-such-bucket", None) == []

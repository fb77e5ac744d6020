"""The tick's inputs on moto: every way S3 can refuse registry.csv or rules.txt is named in plain words
and fails the tick (the function errors, so its alarm sees it) instead of a bare botocore trace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto.core import set_initial_no_auth_action_count

from ew.daily_tick import TickDeps, TickError, UnreadableInput, read_object, run_tick
from ew.settings import Settings
from ew.store import ChainStore

REGISTRY, RULES = "ew-registry-source", "ew-rules-source"
SHEET = b"item_id,item,category,expiry_date,owner\nA1,Lease,contract,2026-12-10,U04LEASE01\n"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def s3(moto_aws: None) -> Iterator[Any]:
    client = boto3.client("s3")
    for bucket in (REGISTRY, RULES):
        client.create_bucket(Bucket=bucket)
    yield client


def tick(s3: Any, registry_bucket: str = REGISTRY) -> None:
    store = ChainStore(boto3.client("dynamodb"), "ew-pings", "ew-ack", "ew-pings-archive")  # not reached
    deps = TickDeps(
        s3,
        boto3.client("events"),
        store,
        registry_bucket,
        RULES,
        Settings(timezone="UTC"),
        "expiry-watcher.ew",
    )
    run_tick(deps, NOW)


def test_a_registry_in_glacier_is_named_with_what_to_do(s3: Any) -> None:
    s3.put_object(Bucket=REGISTRY, Key="registry.csv", Body=SHEET, StorageClass="GLACIER")
    with pytest.raises(UnreadableInput) as failed:
        tick(s3)
    assert str(failed.value) == (
        "cannot read registry.csv from s3://ew-registry-source: it is archived (Glacier) and S3 will not "
        "serve it until it is restored: restore it, or let drive-sync mirror it again (the bucket's "
        "lifecycle must never archive current objects)"
    )
    assert isinstance(failed.value, TickError)


def test_rules_in_glacier_fail_the_tick_too_not_fall_back_to_built_in_rules(s3: Any) -> None:
    s3.put_object(Bucket=REGISTRY, Key="registry.csv", Body=SHEET)
    s3.put_object(Bucket=RULES, Key="rules.txt", Body=b"[default]\n", StorageClass="DEEP_ARCHIVE")
    with pytest.raises(
        UnreadableInput, match=r"^cannot read rules.txt from s3://ew-rules-source: it is archived"
    ):
        tick(s3)


def test_a_missing_bucket_is_named(s3: Any) -> None:
    with pytest.raises(UnreadableInput) as failed:
        tick(s3, registry_bucket="ew-registry-gone")
    assert str(failed.value) == (
        "cannot read registry.csv from s3://ew-registry-gone: the bucket does not exist: check the "
        "stack's buckets and this function's environment"
    )


def test_a_missing_registry_says_drive_sync_has_not_run(s3: Any) -> None:
    with pytest.raises(
        TickError, match=r"^registry.csv is not in the registry bucket yet: has drive-sync run\?$"
    ):
        tick(s3)


@set_initial_no_auth_action_count(5)  # the setup below runs as an administrator, then IAM is enforced
def test_access_denied_is_named(moto_aws: None) -> None:
    admin = boto3.client("s3")
    admin.create_bucket(Bucket=REGISTRY)
    admin.put_object(Bucket=REGISTRY, Key="registry.csv", Body=SHEET)
    iam = boto3.client("iam")
    iam.create_user(UserName="daily-tick")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="daily-tick", PolicyName="no-get", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="daily-tick")["AccessKey"]
    s3 = boto3.client(
        "s3", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )
    with pytest.raises(UnreadableInput) as failed:
        read_object(s3, REGISTRY, "registry.csv")
    assert str(failed.value) == (
        "cannot read registry.csv from s3://ew-registry-source: access denied: the function's role may not "
        "read it (see its ReadSources statement in template.yaml) or a bucket policy refuses it"
    )

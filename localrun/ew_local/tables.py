"""The DynamoDB tables as template.yaml declares them, made on moto for the local runner, the tests and
the benchmarks. template.yaml is the one place a key schema is written: AWS gets the tables from SAM,
everything local reads them from here (tests/unit/test_tables.py checks the code's rows against it).

The template is read with a small YAML loader that keeps CloudFormation's short tags (`!Ref X` ->
`{"Ref": "X"}`, `!Sub s` -> `{"Fn::Sub": s}`), so the local runner needs neither cfn-lint nor SAM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
TABLE_TYPE = "AWS::DynamoDB::Table"


@dataclass(frozen=True)
class TableSpec:
    """One AWS::DynamoDB::Table resource, with the Prefix filled in."""

    logical_id: str  # PingsTable
    name: str  # ew-pings
    env: str | None  # the variable the functions find it by (EW_PINGS_TABLE), from Globals
    keys: tuple[tuple[str, str, str], ...]  # (attribute, HASH/RANGE, S/N/B), in KeySchema order
    ttl_attribute: str | None  # the TimeToLiveSpecification attribute when enabled
    properties: dict[str, Any]  # the resource's Properties as written


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short tags into their long form."""


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref" or suffix == "Condition":
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _short_tag)


@cache
def read_template(path: Path = TEMPLATE) -> dict[str, Any]:
    # A SafeLoader subclass: plain data and the tags above, nothing executable.
    template: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_CloudFormationLoader)
    return template


def table_specs(prefix: str | None = None, path: Path = TEMPLATE) -> list[TableSpec]:
    """Every DynamoDB table in the template, in template order. `prefix` defaults to the template's
    own Prefix default (ew)."""
    template = read_template(path)
    parameters = {"Prefix": prefix or template["Parameters"]["Prefix"]["Default"]}
    variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    env_of = {
        value["Ref"]: name for name, value in variables.items() if isinstance(value, dict) and "Ref" in value
    }
    specs = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != TABLE_TYPE:
            continue
        props = resource["Properties"]
        types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
        ttl = props.get("TimeToLiveSpecification") or {}
        specs.append(
            TableSpec(
                logical_id=logical_id,
                name=_resolve(props["TableName"], parameters, logical_id),
                env=env_of.get(logical_id),
                keys=tuple(
                    (k["AttributeName"], k["KeyType"], types[k["AttributeName"]]) for k in props["KeySchema"]
                ),
                ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") else None,
                properties=props,
            )
        )
    return specs


def table_names(prefix: str | None = None) -> dict[str, str]:
    """{env variable: table name} for every table a function reads from its environment."""
    return {spec.env: spec.name for spec in table_specs(prefix) if spec.env}


def create_tables(client: Any, specs: list[TableSpec] | None = None) -> None:
    """Create the tables (keys, attribute types, billing mode, indexes and TTL as the template says) with
    a boto3 DynamoDB client; tables that already exist are left alone."""
    specs = table_specs() if specs is None else specs
    for spec in specs:
        props = spec.properties
        request: dict[str, Any] = {
            "TableName": spec.name,
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
        }
        for optional in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "ProvisionedThroughput"):
            if optional in props:
                request[optional] = props[optional]
        try:
            client.create_table(**request)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise
    for spec in specs:
        client.get_waiter("table_exists").wait(
            TableName=spec.name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        if spec.ttl_attribute is None:
            continue
        ttl = client.describe_time_to_live(TableName=spec.name)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            client.update_time_to_live(
                TableName=spec.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )


_PARAMETER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


def _resolve(value: Any, parameters: dict[str, str], where: str) -> str:
    """A table name: plain text or `!Sub` over the template's parameters (all a table name uses)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        text: str = value["Fn::Sub"]

        def parameter(match: re.Match[str]) -> str:
            if match[1] not in parameters:
                raise ValueError(
                    f"template.yaml {where}: TableName uses ${{{match[1]}}}, which the runner cannot fill"
                )
            return parameters[match[1]]

        return _PARAMETER.sub(parameter, text)
    raise ValueError(f"template.yaml {where}: TableName must be text or !Sub text, found {value!r}")

"""Configuration from Parameter Store and Secrets Manager, cached for a few minutes.

Lambda containers live for hours; caching (Powertools parameters) keeps config reads off every invocation
while an edit in the console still takes effect within `MAX_AGE_SECONDS`. Errors name the parameter path or
secret, never a value, so they can be logged and shown to the operator.

By default the Powertools providers build their own clients from the environment (what Lambda wants);
pass `client=` to use a specific boto3 client instead (tests, the local runner).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

MAX_AGE_SECONDS = 300

_NOT_FOUND = {"ParameterNotFound", "ResourceNotFoundException"}
_DENIED = {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException"}


class ConfigError(Exception):
    """Configuration that is missing or cannot be read, said in plain words."""


@lru_cache(maxsize=8)
def _ssm_provider(client: Any) -> SSMProvider:
    return SSMProvider(boto3_client=client)


@lru_cache(maxsize=8)
def _secrets_provider(client: Any) -> SecretsProvider:
    return SecretsProvider(boto3_client=client)


def clear_cache() -> None:
    """Forget every cached value (tests; or after writing config and wanting it back at once)."""
    parameters.clear_caches()
    _ssm_provider.cache_clear()
    _secrets_provider.cache_clear()


def _reason(error: GetParameterError) -> str:
    """Why a read failed. Powertools wraps the boto3 error; the original is the exception's context."""
    cause = error.__cause__ or error.__context__
    code = cause.response.get("Error", {}).get("Code", "") if isinstance(cause, ClientError) else ""
    if code in _NOT_FOUND:
        return "it does not exist"
    if code in _DENIED:
        return "this function is not allowed to read it"
    return f"it could not be read ({code or type(cause or error).__name__})"


def get_parameters_by_path(
    path: str, *, client: Any = None, max_age: int = MAX_AGE_SECONDS
) -> dict[str, str]:
    """Every parameter under `path` (recursively, SecureStrings decrypted), keyed by its name relative to
    the path: "/app/config/" with "/app/config/slack/channel" gives {"slack/channel": ...}."""
    values: Mapping[str, object]
    try:
        if client is None:
            values = parameters.get_parameters(path, max_age=max_age, recursive=True, decrypt=True)
        else:
            values = _ssm_provider(client).get_multiple(path, max_age=max_age, recursive=True, decrypt=True)
    except GetParameterError as exc:
        raise ConfigError(
            f"the settings under Parameter Store path {path} could not be read: {_reason(exc)}"
        ) from exc
    if not values:
        raise ConfigError(f"there are no settings under Parameter Store path {path}; create them first")
    return {str(name): str(value) for name, value in values.items()}


def get_secret_text(name: str, *, client: Any = None, max_age: int = MAX_AGE_SECONDS) -> str:
    """The text of secret `name` (its SecretString; a binary secret is read as UTF-8)."""
    value: object
    try:
        if client is None:
            value = parameters.get_secret(name, max_age=max_age)
        else:
            value = _secrets_provider(client).get(name, max_age=max_age)
    except GetParameterError as exc:
        raise ConfigError(f"the secret {name} could not be read: {_reason(exc)}") from exc
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"the secret {name} is binary, not text") from None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"the secret {name} is empty")
    return value

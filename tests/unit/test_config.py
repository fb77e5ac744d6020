import boto3
import pytest
from botocore.stub import Stubber

from opskit import config
from opskit.config import ConfigError, get_parameters_by_path, get_secret_text


@pytest.fixture
def aws(moto_aws):
    # Powertools caches values and providers per process: start and end every test with nothing cached.
    config.clear_cache()
    yield
    config.clear_cache()


class Counter:
    """Counts API calls of one kind made through a client."""

    def __init__(self, client, event):
        self.calls = 0
        client.meta.events.register(event, self._count)

    def _count(self, **_):
        self.calls += 1


def _put_config(ssm):
    ssm.put_parameter(Name="/app/config/timezone", Value="Europe/London", Type="String")
    ssm.put_parameter(Name="/app/config/slack/digest_channel", Value="C0123", Type="String")
    ssm.put_parameter(Name="/app/config/sender", Value="alerts@example.com", Type="SecureString")
    ssm.put_parameter(Name="/app/other/unrelated", Value="no", Type="String")


def test_parameters_under_a_path_are_returned_relative_to_it(aws):
    ssm = boto3.client("ssm")
    _put_config(ssm)

    values = get_parameters_by_path("/app/config/", client=ssm)

    assert values == {
        "timezone": "Europe/London",
        "slack/digest_channel": "C0123",
        "sender": "alerts@example.com",  # SecureStrings come back decrypted
    }


def test_the_default_provider_works_without_a_client(aws):
    _put_config(boto3.client("ssm"))
    assert get_parameters_by_path("/app/config")["timezone"] == "Europe/London"


def test_second_read_is_served_from_the_cache(aws):
    ssm = boto3.client("ssm")
    _put_config(ssm)
    counter = Counter(ssm, "before-call.ssm.GetParametersByPath")

    first = get_parameters_by_path("/app/config/", client=ssm)
    calls_after_first = counter.calls
    ssm.delete_parameter(Name="/app/config/timezone")
    second = get_parameters_by_path("/app/config/", client=ssm)

    assert calls_after_first >= 1
    assert counter.calls == calls_after_first
    assert second == first

    config.clear_cache()
    assert "timezone" not in get_parameters_by_path("/app/config/", client=ssm)


def test_max_age_zero_reads_every_time(aws):
    ssm = boto3.client("ssm")
    _put_config(ssm)
    get_parameters_by_path("/app/config/", client=ssm, max_age=0)
    ssm.delete_parameter(Name="/app/config/timezone")
    assert "timezone" not in get_parameters_by_path("/app/config/", client=ssm, max_age=0)


def test_an_empty_path_is_a_config_error_naming_the_path(aws):
    with pytest.raises(ConfigError, match="no settings under Parameter Store path /app/missing/"):
        get_parameters_by_path("/app/missing/", client=boto3.client("ssm"))


def test_a_refused_read_is_a_config_error_naming_the_path(aws):
    ssm = boto3.client("ssm")
    with Stubber(ssm) as stub, pytest.raises(ConfigError) as info:
        stub.add_client_error("get_parameters_by_path", service_error_code="AccessDeniedException")
        get_parameters_by_path("/app/config/", client=ssm)
    assert str(info.value) == (
        "the settings under Parameter Store path /app/config/ could not be read: "
        "this function is not allowed to read it"
    )


def test_secret_text_is_read_and_cached(aws):
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name="app/slack/bot-token", SecretString="xoxb-secret-value")
    counter = Counter(secrets, "before-call.secrets-manager.GetSecretValue")

    assert get_secret_text("app/slack/bot-token", client=secrets) == "xoxb-secret-value"
    secrets.update_secret(SecretId="app/slack/bot-token", SecretString="rotated")
    assert get_secret_text("app/slack/bot-token", client=secrets) == "xoxb-secret-value"
    assert counter.calls == 1


def test_secret_via_the_default_provider(aws):
    boto3.client("secretsmanager").create_secret(Name="app/link-key", SecretString="k" * 32)
    assert get_secret_text("app/link-key") == "k" * 32


def test_binary_secret_is_read_as_text(aws):
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name="app/bin", SecretBinary="línea".encode())
    assert get_secret_text("app/bin", client=secrets) == "línea"


def test_a_missing_secret_is_a_config_error_naming_it_but_no_value(aws):
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name="app/other", SecretString="hunter2-value")
    with pytest.raises(ConfigError) as info:
        get_secret_text("app/slack/signing-secret", client=secrets)
    assert str(info.value) == "the secret app/slack/signing-secret could not be read: it does not exist"
    assert "hunter2" not in str(info.value)


def test_an_edited_parameter_is_read_again_once_max_age_has_passed(aws, powertools_clock):
    ssm = boto3.client("ssm")
    _put_config(ssm)
    clock = powertools_clock
    assert get_parameters_by_path("/app/config/", client=ssm)["timezone"] == "Europe/London"
    ssm.put_parameter(Name="/app/config/timezone", Value="Europe/Dublin", Type="String", Overwrite=True)
    clock.advance(config.MAX_AGE_SECONDS - 5)
    assert get_parameters_by_path("/app/config/", client=ssm)["timezone"] == "Europe/London"
    clock.advance(10)
    assert get_parameters_by_path("/app/config/", client=ssm)["timezone"] == "Europe/Dublin"


def test_a_rotated_secret_is_read_again_once_max_age_has_passed(aws, powertools_clock):
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name="app/slack/signing-secret", SecretString="before")
    clock = powertools_clock
    assert get_secret_text("app/slack/signing-secret", client=secrets) == "before"
    secrets.put_secret_value(SecretId="app/slack/signing-secret", SecretString="after")
    assert get_secret_text("app/slack/signing-secret", client=secrets) == "before"
    clock.advance(config.MAX_AGE_SECONDS + 1)
    assert get_secret_text("app/slack/signing-secret", client=secrets) == "after"


def test_a_failed_read_is_not_remembered(aws):
    secrets, ssm = boto3.client("secretsmanager"), boto3.client("ssm")
    secrets.create_secret(Name="app/slack/bot-token", SecretString="xoxb-value")
    _put_config(ssm)
    with Stubber(secrets) as stub, Stubber(ssm) as ssm_stub:
        stub.add_client_error(
            "get_secret_value", service_error_code="InternalServiceError", http_status_code=500
        )
        ssm_stub.add_client_error("get_parameters_by_path", service_error_code="ThrottlingException")
        with pytest.raises(ConfigError, match="could not be read"):
            get_secret_text("app/slack/bot-token", client=secrets)
        with pytest.raises(ConfigError, match="could not be read"):
            get_parameters_by_path("/app/config/", client=ssm)
    # The very next read asks again, and succeeds: no error was cached.
    assert get_secret_text("app/slack/bot-token", client=secrets) == "xoxb-value"
    assert get_parameters_by_path("/app/config/", client=ssm)["timezone"] == "Europe/London"

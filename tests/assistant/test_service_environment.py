"""Each process gets only the environment it needs; `endpoints.yml` is filled from it."""

from pathlib import Path

import pytest
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import read_endpoint_config

from assistant import service_environment, settings
from assistant.service_environment import endpoint_variables, for_service

LAUNCHER_ENVIRONMENT = {
    "PATH": "/usr/bin",
    "HOME": "/home/practice",
    "LC_ALL": "C.UTF-8",
    "DATABASE_URL": "postgresql://assistant:db-password@127.0.0.1/assistant",
    "REVIEW_PASSWORD": "review-password",
    "REVIEW_SECRET_KEY": "review-cookie-key",
    "FACEBOOK_APP_SECRET": "facebook-app-secret",
    "FACEBOOK_PAGE_ACCESS_TOKEN": "facebook-page-token",
    "FACEBOOK_VERIFY_TOKEN": "facebook-verify-token",
    "SMTP_PASSWORD": "smtp-password",
    "SMTP_HOST": "mail.example.com",
    "ACTION_SERVER_TOKEN": "action-token",
    "ACTION_SERVER_URL": "http://127.0.0.1:5055/webhook",
    "AWS_SECRET_ACCESS_KEY": "unrelated-cloud-secret",
}
SECRETS = {
    "DATABASE_URL", "REVIEW_PASSWORD", "REVIEW_SECRET_KEY", "FACEBOOK_APP_SECRET",
    "FACEBOOK_PAGE_ACCESS_TOKEN", "FACEBOOK_VERIFY_TOKEN", "SMTP_PASSWORD",
    "ACTION_SERVER_TOKEN", "AWS_SECRET_ACCESS_KEY",
}


def secrets_seen_by(service_name: str) -> set:
    return set(for_service(service_name, LAUNCHER_ENVIRONMENT)) & SECRETS


def test_the_action_server_gets_smtp_the_database_and_its_token_only() -> None:
    assert secrets_seen_by("action server") == {"DATABASE_URL", "SMTP_PASSWORD", "ACTION_SERVER_TOKEN"}


def test_rasa_gets_facebook_the_database_and_the_token_only() -> None:
    assert secrets_seen_by("assistant") == {
        "DATABASE_URL", "ACTION_SERVER_TOKEN", "FACEBOOK_APP_SECRET",
        "FACEBOOK_PAGE_ACCESS_TOKEN", "FACEBOOK_VERIFY_TOKEN",
    }
    assert for_service("assistant", LAUNCHER_ENVIRONMENT)["ACTION_SERVER_URL"].endswith("/webhook")


def test_the_review_app_gets_its_password_and_the_database_only() -> None:
    assert secrets_seen_by("review app") == {"DATABASE_URL", "REVIEW_PASSWORD", "REVIEW_SECRET_KEY"}


def test_the_demo_page_gets_no_secret_at_all() -> None:
    assert secrets_seen_by("demo page") == set()


def test_every_service_keeps_what_any_python_process_needs() -> None:
    for name in service_environment.SERVICE_VARIABLES:
        seen = for_service(name, LAUNCHER_ENVIRONMENT)
        assert {"PATH", "HOME", "LC_ALL"} <= set(seen), name


def test_an_unknown_service_gets_only_the_common_variables() -> None:
    assert secrets_seen_by("something new") == set()


def test_actions_port_moves_rasa_s_action_endpoint() -> None:
    variables = endpoint_variables({"ACTIONS_PORT": "6123", "ACTION_SERVER_TOKEN": "t"})
    assert variables == {"ACTION_SERVER_URL": "http://127.0.0.1:6123/webhook", "ACTION_SERVER_TOKEN": "t"}


def test_the_defaults_are_those_of_before() -> None:
    assert settings.action_server_url({}) == "http://127.0.0.1:5055/webhook"
    assert settings.action_server_host({}) == "127.0.0.1"
    assert settings.action_server_host({"ACTIONS_HOST": "0.0.0.0"}) == "0.0.0.0"


def test_an_explicit_action_server_url_wins() -> None:
    env = {"ACTIONS_PORT": "6123", "ACTION_SERVER_URL": "http://actions.internal:80/webhook", "ACTION_SERVER_TOKEN": "t"}
    assert endpoint_variables(env)["ACTION_SERVER_URL"] == "http://actions.internal:80/webhook"


def test_without_a_token_in_the_environment_one_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    env = {"VAR_DIR": str(tmp_path / "var")}

    first = endpoint_variables(env)["ACTION_SERVER_TOKEN"]

    assert len(first) >= 48 and endpoint_variables(env)["ACTION_SERVER_TOKEN"] == first
    assert (tmp_path / "var" / "action_server_token").stat().st_mode & 0o777 == 0o600


def test_shell_exports_can_be_evaluated_by_a_shell() -> None:
    exports = service_environment.shell_exports({"ACTIONS_PORT": "6123", "ACTION_SERVER_TOKEN": "a b'c"})
    assert exports == (
        "export ACTION_SERVER_URL=http://127.0.0.1:6123/webhook\n"
        "export ACTION_SERVER_TOKEN='a b'\"'\"'c'\n"
    )


def test_the_project_s_endpoints_yml_takes_the_address_and_token_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACTION_SERVER_URL", "http://127.0.0.1:6123/webhook")
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "the-token")

    endpoint = read_endpoint_config(str(settings.PROJECT_ROOT / "endpoints.yml"), "action_endpoint")

    assert endpoint.url == "http://127.0.0.1:6123/webhook"
    assert endpoint.headers == {"Authorization": "Bearer the-token"}


def test_rasa_refuses_endpoints_yml_when_a_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTION_SERVER_URL", "http://127.0.0.1:6123/webhook")
    monkeypatch.delenv("ACTION_SERVER_TOKEN", raising=False)

    with pytest.raises(RasaException, match="ACTION_SERVER_TOKEN"):
        read_endpoint_config(str(settings.PROJECT_ROOT / "endpoints.yml"), "action_endpoint")

"""The channels' settings come from the environment, with safe defaults."""

import pytest

from assistant import settings

FACEBOOK = {
    "FACEBOOK_VERIFY_TOKEN": "verify-me",
    "FACEBOOK_APP_SECRET": "app-secret",
    "FACEBOOK_PAGE_ACCESS_TOKEN": "EAApage",
}


def test_facebook_credentials_come_from_the_three_variables() -> None:
    assert settings.facebook_credentials(FACEBOOK) == settings.FacebookCredentials(
        verify_token="verify-me", app_secret="app-secret", page_access_token="EAApage"
    )


@pytest.mark.parametrize("missing", list(FACEBOOK))
def test_messenger_stays_off_while_any_credential_is_missing_or_blank(missing: str) -> None:
    assert settings.facebook_credentials({k: v for k, v in FACEBOOK.items() if k != missing}) is None
    assert settings.facebook_credentials({**FACEBOOK, missing: "  "}) is None


def test_the_graph_api_is_meta_s_unless_overridden() -> None:
    assert settings.graph_api_base_url({}) == "https://graph.facebook.com/v24.0"
    assert settings.graph_api_base_url({"FACEBOOK_GRAPH_API_URL": "http://127.0.0.1:9/v24.0/"}) == (
        "http://127.0.0.1:9/v24.0"
    )


def test_by_default_only_the_demo_page_may_open_the_chat_socket() -> None:
    assert settings.allowed_origins({}) == ("http://localhost:8080", "http://127.0.0.1:8080")
    assert settings.allowed_origins({"WEB_PORT": "9000"}) == ("http://localhost:9000", "http://127.0.0.1:9000")


def test_allowed_origins_are_a_comma_separated_list_without_trailing_slashes() -> None:
    listed = {"ALLOWED_ORIGINS": " https://www.practice.example/, https://practice.example ,"}
    assert settings.allowed_origins(listed) == ("https://www.practice.example", "https://practice.example")

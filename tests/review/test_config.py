"""The review app's settings: port, secret key and password, from the environment or var/."""

from pathlib import Path

from assistant import settings
from review.config import ReviewConfig
from review.security import verify_password


def test_the_password_hash_comes_from_the_environment_before_the_file(tmp_path: Path) -> None:
    stored = tmp_path / "review_password.argon2"
    stored.write_text("$argon2id$from-the-file\n")

    assert settings.review_password_hash({"REVIEW_PASSWORD_FILE": str(stored)}) == "$argon2id$from-the-file"
    assert settings.review_password_hash(
        {"REVIEW_PASSWORD_FILE": str(stored), "REVIEW_PASSWORD_HASH": "$argon2id$from-env"}
    ) == "$argon2id$from-env"


def test_no_password_is_set_until_one_is_stored(tmp_path: Path) -> None:
    assert settings.review_password_hash({"REVIEW_PASSWORD_FILE": str(tmp_path / "missing")}) is None
    assert settings.review_password({}) is None


def test_the_stored_hash_lives_under_var_by_default() -> None:
    assert settings.review_password_file({}) == settings.PROJECT_ROOT / "var" / "review_password.argon2"


def test_without_a_secret_key_the_app_makes_one_at_start() -> None:
    assert settings.review_secret_key({}) is None
    assert settings.review_secret_key({"REVIEW_SECRET_KEY": " k "}) == "k"


def test_a_plain_password_from_the_environment_is_hashed_once_and_not_kept(monkeypatch) -> None:
    monkeypatch.setenv("REVIEW_PASSWORD", "a password given to a container")
    monkeypatch.delenv("REVIEW_SECRET_KEY", raising=False)

    config = ReviewConfig.from_settings()

    assert verify_password(config.password_hash(), "a password given to a container")
    assert "a password given to a container" not in repr(config)
    assert len(config.secret_key) >= 32


def test_cookies_are_marked_secure_when_the_app_is_reached_over_https() -> None:
    plain = ReviewConfig("sqlite://", "k", lambda: None, base_url="http://localhost:5006")
    behind_tls = ReviewConfig("sqlite://", "k", lambda: None, base_url="https://review.example.org")
    assert not plain.secure_cookies and behind_tls.secure_cookies

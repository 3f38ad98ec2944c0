"""The practice profile is read, checked and re-read when the therapist edits it."""

import os
import time
from pathlib import Path

import pytest
import yaml

from assistant import settings
from assistant.settings import ProfileError, parse_practice_profile, practice_profile


def _write_profile(path: Path, **changes: object) -> Path:
    raw = yaml.safe_load(settings.DEFAULT_PROFILE_PATH.read_text())
    raw.update(changes)
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_shipped_profile_leaves_fees_insurance_and_availability_empty() -> None:
    profile = practice_profile(settings.DEFAULT_PROFILE_PATH)
    assert (profile.fees, profile.insurance, profile.availability) == ("", "", "")


def test_the_shipped_profile_has_us_crisis_lines() -> None:
    lines = " ".join(practice_profile(settings.DEFAULT_PROFILE_PATH).crisis_lines)
    assert "988" in lines and "911" in lines and "741741" in lines


def test_an_edited_profile_is_read_again_without_a_restart(tmp_path: Path) -> None:
    path = _write_profile(tmp_path / "practice.yml", fees="")
    assert practice_profile(path).fees == ""
    _write_profile(path, fees="Sessions are $150.")
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert practice_profile(path).fees == "Sessions are $150."


@pytest.mark.parametrize(
    "raw, problem",
    [
        ({"therapist_name": "B", "crisis_resources": {"lines": ["988"]}}, "practice_name"),
        ({"practice_name": "P", "therapist_name": "B"}, "crisis_resources"),
        ({"practice_name": "P", "therapist_name": "B", "crisis_resources": {"lines": ["988"]}, "fees": ["x"]}, "fees"),
        ({"practice_name": "P", "therapist_name": "B", "crisis_resources": {"lines": ["988"]}, "retention_days": "soon"}, "retention_days"),
    ],
)
def test_a_malformed_profile_is_refused_with_the_field_named(raw: dict, problem: str) -> None:
    with pytest.raises(ProfileError, match=problem):
        parse_practice_profile(raw)


def test_a_missing_profile_is_an_error_not_silence(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="not found"):
        practice_profile(tmp_path / "nope.yml")


def test_database_url_defaults_to_sqlite_under_var() -> None:
    assert settings.database_url({}).startswith("sqlite:///")
    assert settings.database_url({}).endswith("var/assistant.db")


def test_database_url_switches_to_postgresql_from_the_environment() -> None:
    url = settings.database_url({"DATABASE_URL": "postgres://u@127.0.0.1:5432/kap"})
    assert url == "postgresql://u@127.0.0.1:5432/kap"


def test_smtp_is_off_unless_host_and_recipient_are_set() -> None:
    assert settings.smtp_settings({"SMTP_HOST": "mail"}) is None
    smtp = settings.smtp_settings({"SMTP_HOST": "mail", "THERAPIST_EMAIL": "b@example.com"})
    assert smtp is not None and smtp.port == 587 and smtp.sender == "b@example.com"

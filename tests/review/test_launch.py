"""`make run` starts the review app beside the assistant, on its own port."""

from assistant import launch, settings


def test_make_run_starts_the_review_app_after_the_assistant() -> None:
    names = [service.name for service in launch.default_services()]

    assert names.index("review app") > names.index("assistant")
    review = launch.default_services()[names.index("review app")]
    assert review.command[1:4] == ["-m", "review", "serve"]
    assert review.health_url == f"http://127.0.0.1:{settings.review_port()}/health"
    assert f"http://localhost:{settings.review_port()}" in review.address


def test_the_review_port_comes_from_the_environment() -> None:
    assert settings.review_port({}) == 5006
    assert settings.review_port({"REVIEW_PORT": "6100"}) == 6100

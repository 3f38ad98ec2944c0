"""`make run` serves the demo page with the widget, pointed at the assistant."""

from typing import Iterator

import pytest
import requests

from assistant import launch, settings
from tests.servers import free_port

WIDGET_BUNDLE = settings.PROJECT_ROOT / "web" / "dist" / "practice-chat.js"


@pytest.fixture
def demo_page_service() -> Iterator[launch.Service]:
    """The demo page started exactly as `make run` starts it."""
    service = launch.demo_page(free_port(), rasa_port=5999)
    process = launch.start(service)
    try:
        launch.wait_until_ready(service, process, timeout=30)
        yield service
    finally:
        launch.stop([process])


def test_the_demo_page_embeds_the_widget_with_the_assistant_s_address(demo_page_service: launch.Service) -> None:
    page = requests.get(demo_page_service.health_url.replace("/health", "/"), timeout=5)
    assert page.status_code == 200
    assert '<script src="/practice-chat.js"' in page.text
    assert 'data-server="http://localhost:5999"' in page.text
    assert f'data-practice-name="{settings.practice_profile().practice_name}"' in page.text


def test_the_demo_page_serves_the_built_widget_and_nothing_else(demo_page_service: launch.Service) -> None:
    base = demo_page_service.health_url.replace("/health", "")
    widget = requests.get(f"{base}/practice-chat.js", timeout=5)
    if not WIDGET_BUNDLE.exists():
        pytest.fail("the widget is not built: run `make web`")
    assert widget.status_code == 200 and widget.headers["Content-Type"].startswith("text/javascript")
    assert widget.content == WIDGET_BUNDLE.read_bytes()
    assert requests.get(f"{base}/../credentials.yml", timeout=5).status_code == 404
    assert requests.get(f"{base}/web/demo_server.py", timeout=5).status_code == 404


def test_make_run_prints_the_demo_page_address() -> None:
    services = {service.name: service for service in launch.default_services()}
    assert services["demo page"].address.startswith(f"http://localhost:{settings.web_port()}")

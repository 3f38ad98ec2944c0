"""`make run`'s launcher with the services that start in seconds, for `test_launch.py`.

The Rasa server needs a trained model and a minute to load; the launcher treats
every service alike, so the action server, the review app and the demo page show
how it passes environments, restarts a crashed service and stops on Ctrl-C.

    python -m tests.assistant.launcher_process ACTIONS_PORT REVIEW_PORT WEB_PORT
"""

import sys
from typing import List

from assistant import launch
from tests.servers import free_port


def main(argv: List[str]) -> int:
    """Runs the launcher's own loop on the three services, on the given ports."""
    actions_port, review_port, web_port = (int(port) for port in argv)
    return launch.run_services([
        launch.action_server(actions_port),
        launch.review_app(review_port),
        launch.demo_page(web_port, rasa_port=free_port()),
    ])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

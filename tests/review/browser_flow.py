"""Runs a review flow (`*.mjs`, built on `tests/browser/chromium.mjs`) in headless Chromium.

The browser tests of the review app share this: which Chromium and playwright-core
they need (`make browser-deps`), and how a flow is run and its result read.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest

from assistant import settings

BROWSER_TOOLS = settings.PROJECT_ROOT / "tests" / "browser"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
FLOW_TIMEOUT_SECONDS = 180

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() or not (BROWSER_TOOLS / "node_modules" / "playwright-core").exists() or not shutil.which("node"),
    reason="needs Chromium and playwright-core: run `make browser-deps`",
)


def run_flow(flow: Path, options: Dict[str, Any]) -> Dict[str, Any]:
    """What the flow saw, after it ran to its end.

    The artifacts folder (`options["artifacts"]`) is emptied first, so its screenshots
    are all of this run. A flow that could not run, or stopped at a step, fails the
    caller with node's error output or the step's error.
    """
    shutil.rmtree(options["artifacts"], ignore_errors=True)
    result = subprocess.run(
        ["node", str(flow), json.dumps(options)],
        cwd=BROWSER_TOOLS, capture_output=True, text=True, timeout=FLOW_TIMEOUT_SECONDS,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert "failure" not in seen, seen["failure"]
    return seen

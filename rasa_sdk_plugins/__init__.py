"""The action server's extensions, found by rasa-sdk's plugin manager under this fixed name.

rasa-sdk imports a top-level package called `rasa_sdk_plugins` when the action
server starts and calls `init_hooks`; each module listed here implements
`attach_sanic_app_extensions(app)` to add listeners, middleware or routes to
rasa-sdk's Sanic app. It is the public way to run something beside the actions
without replacing rasa-sdk's entry point.
"""

import pluggy

from assistant import alert_worker

PLUGINS = (alert_worker,)


def init_hooks(manager: pluggy.PluginManager) -> None:
    """Registers the project's hook implementations with rasa-sdk."""
    for plugin in PLUGINS:
        manager.register(plugin)

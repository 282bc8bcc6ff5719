"""The console: pages for the people who work cases, served by the service at /console.

Server-rendered (Jinja2), no scripts, every asset served from here; the same identities,
scopes and commands as the API (docs/console.md).
"""

from api.console.routes import router

__all__ = ["router"]

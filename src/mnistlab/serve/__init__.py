"""The web app (extra `[web]`): a page to draw digits on and a JSON API. See app.create_app."""

from mnistlab.serve.app import create_app

__all__ = ["create_app"]

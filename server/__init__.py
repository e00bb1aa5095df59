"""The HTTP server: app factory, settings, identity, CLI."""

"""The version of the running server, as the installed package states it (`pyproject.toml`)."""

from __future__ import annotations

from importlib.metadata import version

SWITCHBOARD_VERSION = version("switchboard")

"""A local sandbox of the UniPile REST API v1, with deterministic demo data and fault injection.

``create_sandbox_app(settings)`` builds the Starlette app, ``run_sandbox`` serves it, and
``unipile.sandbox.testing.running_sandbox`` runs one in a thread for tests.
"""

from unipile.sandbox.app import create_sandbox_app, run_sandbox
from unipile.sandbox.demo import (
    DEMO_DEFAULT_REGION,
    Demo,
    DemoAccount,
    DemoCompany,
    DemoContact,
    DemoCrm,
    Owner,
    build_bulk_mailbox,
    build_demo,
    build_rival,
)
from unipile.sandbox.settings import SandboxSettings

__all__ = [
    "DEMO_DEFAULT_REGION",
    "Demo",
    "DemoAccount",
    "DemoCompany",
    "DemoContact",
    "DemoCrm",
    "Owner",
    "SandboxSettings",
    "build_bulk_mailbox",
    "build_demo",
    "build_rival",
    "create_sandbox_app",
    "run_sandbox",
]

"""A served Switchboard over the sandbox's demo data, and the inbox page as these tests read it:
each participant's identifier and CRM match, each conversation's account and storage decision."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.vocabulary import Channel, StoragePolicy
from db.models import StoragePolicySetting, Workspace
from server.app import create_app
from tests.inbox.conftest import (
    SANDBOX_KEY,
    Inbox,
    inbox_settings,
    issue_demo_tokens,
    server_environment,
)
from tests.processes import served_processes
from unipile.sandbox import SandboxSettings
from unipile.sandbox.testing import running_app, running_sandbox

START_TIMEOUT = 30.0
PAGE = """
query Page($first: Int) {
  conversations(first: $first) {
    edges { node {
      id externalId account { id externalId }
      participants { identifier emailAddress isSelf crmMatch { contact { id } company { id } } }
      storage { stored shouldStore reason }
      links { source target { id name } }
    } }
  }
}
"""


@dataclass(frozen=True)
class Page:
    nodes: list[dict[str, Any]]
    queries: int
    # Given again from a kept answer (`server.kept_responses`), not executed.
    kept: bool = False

    def participants(self) -> list[dict[str, Any]]:
        return [p for node in self.nodes for p in node["participants"] if not p["isSelf"]]

    def match_of(self, email: str) -> dict[str, Any] | None:
        """The CRM match of the participant with this address (the same wherever it appears)."""
        found = {repr(p["crmMatch"]) for p in self.participants() if p["emailAddress"] == email}
        assert len(found) == 1, f"{email} appears with {found}"
        return next(p["crmMatch"] for p in self.participants() if p["emailAddress"] == email)

    def accounts(self) -> set[str]:
        return {node["account"]["externalId"] for node in self.nodes}


async def read_page(inbox: Inbox, user: str = "alice", first: int = 50) -> Page:
    result = await inbox.query(PAGE, {"first": first}, user=user)
    assert "errors" not in result, result["errors"]
    nodes = [edge["node"] for edge in result["data"]["conversations"]["edges"]]
    cost = result["extensions"]["cost"]
    return Page(nodes, cost["dbQueries"], cost.get("keptAnswer", False))


async def warm_page(inbox: Inbox, user: str = "alice") -> Page:
    """The page once its caches are warm: read twice, the second costing at most one query;
    where answers are kept, read until the answer is given again from where it was kept."""
    await read_page(inbox, user)
    page = await read_page(inbox, user)
    assert page.queries <= 1
    if inbox.keeps_answers:
        page = await read_page(inbox, user)
        assert page.kept, "the third identical read is given the kept answer"
    return page


async def mutate(inbox: Inbox, mutation: str, user: str = "alice", **variables: Any) -> Any:
    """The mutation's payload, which must carry no error."""
    result = await inbox.query(mutation, variables, user=user)
    assert "errors" not in result, result["errors"]
    [payload] = result["data"].values()
    assert payload.get("error") is None, payload
    return payload


async def hold_automatic_storage() -> None:
    """Keep the job queue from storing email while a test compares pages."""
    workspace = await Workspace.get(slug="demo")
    await StoragePolicySetting.create(
        workspace=workspace, channel=Channel.EMAIL, policy=StoragePolicy.MANUAL
    )


@pytest.fixture
async def demo_tokens(database: str) -> dict[str, str]:
    tokens = await issue_demo_tokens()
    await hold_automatic_storage()
    return tokens


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with running_sandbox(SandboxSettings(api_key=SANDBOX_KEY)) as url:
        yield url


Serve = Callable[[], AbstractContextManager[Inbox]]


@pytest.fixture(params=["executed", "kept"])
def serve(
    request: pytest.FixtureRequest,
    database: str,
    demo_tokens: dict[str, str],
    sandbox_url: str,
    tmp_path: Path,
) -> Serve:
    """A fresh app (its caches empty) on the test's database, as often as a test asks: every
    read executed (`LIVE_CACHE_SECONDS=0`), or with the live cache and kept answers on, which
    every change must end as it ends the caches."""
    keeps_answers = request.param == "kept"
    extra = {"LIVE_CACHE_SECONDS": "60"} if keeps_answers else {}

    @contextmanager
    def served() -> Iterator[Inbox]:
        app = create_app(inbox_settings(database, tmp_path, sandbox_url, extra))
        with running_app(app) as url:
            yield Inbox(url, sandbox_url, demo_tokens, keeps_answers)

    return served


@pytest.fixture
async def inbox(serve: Serve) -> AsyncIterator[Inbox]:
    with serve() as served:
        yield served


@pytest.fixture
def processes(
    database: str,
    demo_tokens: dict[str, str],
    sandbox_url: str,
    tmp_path: Path,
) -> Iterator[list[Inbox]]:
    """Two server processes on the test's database, without Redis: nothing but the database
    tells one what the other changed."""
    environment = server_environment(database, sandbox_url, {"LOG_LEVEL": "WARNING"})
    with served_processes(("a", "b"), environment, tmp_path) as urls:
        yield [Inbox(url, sandbox_url, demo_tokens) for url in urls]

"""The stock Strawberry baseline of the inbox benchmark answers `PAGE` as Switchboard does.

Shape and batching only: the benchmark itself is never a timed test.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from graphql import FieldNode, SelectionSetNode, parse
from graphql.language import OperationDefinitionNode

from bench.baseline import RECORDED_PAGE, BaselineApp, CrmMatch, Store
from bench.inbox import PAGE

KeyPath = tuple[str, ...]


def recorded() -> dict[str, Any]:
    response: dict[str, Any] = orjson.loads(RECORDED_PAGE.read_bytes())
    return response


def key_paths(value: Any, prefix: KeyPath = ()) -> set[KeyPath]:
    """Every key path of a JSON value, list items folded into their list's path."""
    if isinstance(value, list):
        return {path for item in value for path in key_paths(item, prefix)}
    if isinstance(value, dict):
        paths = set()
        for key, item in value.items():
            paths.add((*prefix, key))
            paths |= key_paths(item, (*prefix, key))
        return paths
    return set()


def selection_paths(selection: SelectionSetNode, prefix: KeyPath = ()) -> set[KeyPath]:
    paths = set()
    for field in selection.selections:
        assert isinstance(field, FieldNode)
        path = (*prefix, field.name.value)
        paths.add(path)
        if field.selection_set is not None:
            paths |= selection_paths(field.selection_set, path)
    return paths


def page_selection_paths() -> set[KeyPath]:
    (operation,) = parse(PAGE).definitions
    assert isinstance(operation, OperationDefinitionNode)
    return {("data", *path) for path in selection_paths(operation.selection_set)}


async def post_page(store: Store, first: int = 50) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=BaselineApp(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://baseline") as client:
        response = await client.post(
            "/graphql", json={"query": PAGE, "variables": {"first": first}}
        )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The identifiers of every call of the match loader's batch function."""
    calls: list[list[str]] = []
    load_matches = Store.load_matches

    async def counted(self: Store, identifiers: list[str]) -> list[CrmMatch | None]:
        calls.append(identifiers)
        return await load_matches(self, identifiers)

    monkeypatch.setattr(Store, "load_matches", counted)
    return calls


@pytest.fixture
async def answered(batches: list[list[str]]) -> AsyncIterator[dict[str, Any]]:
    yield await post_page(Store.from_response(recorded()))


def test_the_page_has_no_errors_and_50_edges(answered: dict[str, Any]) -> None:
    assert "errors" not in answered
    assert len(answered["data"]["conversations"]["edges"]) == 50


def test_the_page_has_every_key_of_the_recorded_switchboard_page(
    answered: dict[str, Any],
) -> None:
    assert key_paths(answered["data"]) == key_paths(recorded()["data"])


def test_only_link_keys_of_the_selection_are_missing_from_the_recorded_page() -> None:
    # The demo page has no links, so their keys are checked on a page that has one (below).
    links = ("data", "conversations", "edges", "node", "links")
    missing = page_selection_paths() - key_paths(recorded())
    assert missing and all(path[: len(links)] == links and path != links for path in missing)


async def test_a_link_is_answered_with_every_key_of_the_selection(
    batches: list[list[str]],
) -> None:
    response = recorded()
    with_link = copy.deepcopy(response)
    with_link["data"]["conversations"]["edges"][0]["node"]["links"] = [
        {
            "id": "Q29udmVyc2F0aW9uTGluazox",
            "target": {"id": "Q29udGFjdDox", "name": "Inès Roux"},  # Contact:1
            "source": "MATCHER",
            "rule": "PHONE",
            "createdAt": "2026-11-30T10:00:00+00:00",
        }
    ]
    answered = await post_page(Store.from_response(with_link))
    assert "errors" not in answered
    assert key_paths(answered) >= page_selection_paths()
    assert (
        answered["data"]["conversations"]["edges"][0]["node"]["links"]
        == (with_link["data"]["conversations"]["edges"][0]["node"]["links"])
    )


def test_the_page_has_the_recorded_values_but_its_own_cursors(answered: dict[str, Any]) -> None:
    def without_cursors(body: dict[str, Any]) -> list[Any]:
        return [edge["node"] for edge in body["data"]["conversations"]["edges"]]

    assert without_cursors(answered) == without_cursors(recorded())


def test_the_match_loader_batches_the_whole_page_once(
    answered: dict[str, Any], batches: list[list[str]]
) -> None:
    participants = [
        participant
        for edge in recorded()["data"]["conversations"]["edges"]
        for participant in edge["node"]["participants"]
        if not participant["isSelf"]
    ]
    assert len(batches) == 1
    # One key per distinct identifier: the loader's cache folds repeated people.
    assert sorted(batches[0]) == sorted({each["identifier"] for each in participants})


async def test_pages_follow_each_other_by_cursor(batches: list[list[str]]) -> None:
    store = Store.from_response(recorded())
    transport = httpx.ASGITransport(app=BaselineApp(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://baseline") as client:
        first = (
            await client.post("/graphql", json={"query": PAGE, "variables": {"first": 30}})
        ).json()["data"]["conversations"]
        assert first["pageInfo"]["hasNextPage"] is True
        rest = (
            await client.post(
                "/graphql",
                json={
                    "query": PAGE,
                    "variables": {"first": 30, "after": first["pageInfo"]["endCursor"]},
                },
            )
        ).json()["data"]["conversations"]
    assert len(rest["edges"]) == 20 and rest["pageInfo"]["hasNextPage"] is False
    ids = [edge["node"]["id"] for edge in first["edges"] + rest["edges"]]
    assert ids == [edge["node"]["id"] for edge in recorded()["data"]["conversations"]["edges"]]
    assert len(batches) == 2  # one per request: a loader lives as long as its request


async def test_a_filter_is_refused_rather_than_ignored() -> None:
    transport = httpx.ASGITransport(app=BaselineApp(Store.from_response(recorded())))
    async with httpx.AsyncClient(transport=transport, base_url="http://baseline") as client:
        response = await client.post(
            "/graphql",
            json={"query": PAGE, "variables": {"first": 5, "filter": {"unread": True}}},
        )
    assert (
        response.json()["errors"][0]["message"] == "the baseline serves the unfiltered inbox only"
    )

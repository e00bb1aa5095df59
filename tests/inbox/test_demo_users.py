"""What `make run` prints: a token for each demo user and what each sees; alice's token sees every
channel (email, WhatsApp one-to-one and group chats, LinkedIn), with WhatsApp people matched to
the CRM by phone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from server.demo import DEMO_USERS, load_demo
from tests.inbox.conftest import Inbox, inbox_settings
from unipile.sandbox import build_demo
from unipile.sandbox.demo import ALICE_WHATSAPP_ID, WHATSAPP_ID

ACCOUNTS = "{ accounts { externalId channel shared isMine } }"
CHANNEL = """
query Channel($channel: Channel!) {
  conversations(first: 100, filter: {channels: [$channel]}) {
    edges { node {
      externalId channel isGroup account { externalId }
      participants { identifier isSelf phoneNumber
        crmMatch { contact { name } method confidence ambiguous } }
    } }
  }
}
"""
TOKEN_LINE = re.compile(r"^bearer token for (\S+) \(.*\):$")


def printed_tokens(printed: str) -> dict[str, str]:
    """Email -> token, from `describe`'s "bearer token for E (...):" lines and the next ones."""
    lines = printed.splitlines()
    return {
        match[1]: lines[index + 1]
        for index, line in enumerate(lines)
        if (match := TOKEN_LINE.match(line))
    }


async def as_token(inbox: Inbox, token: str, query: str, **variables: Any) -> dict[str, Any]:
    tokens = {**inbox.tokens, "printed": token}
    result = await Inbox(inbox.url, inbox.sandbox, tokens).query(query, variables, user="printed")
    assert "errors" not in result, result["errors"]
    data: dict[str, Any] = result["data"]
    return data


async def test_make_run_prints_a_token_for_each_demo_user_with_what_they_see(
    inbox: Inbox, database: str, tmp_path: Path
) -> None:
    summary = await load_demo(7)
    printed = summary.describe(inbox_settings(database, tmp_path, inbox.sandbox))
    tokens = printed_tokens(printed)
    assert set(tokens) == {email for email, _ in DEMO_USERS.values()}
    # alice's token is the last line: scripts (and tests) take it as the demo token.
    assert printed.splitlines()[-1] == tokens["alice@demo.switchboard.test"]
    for email, token in tokens.items():
        accounts = (await as_token(inbox, token, ACCOUNTS))["accounts"]
        [sees] = [line for line in printed.splitlines() if line.startswith(f"{email} (")]
        # Every account the API shows the user is named on their line, and only those.
        named = set(re.findall(r"acc_\w+", sees))
        assert named == {account["externalId"] for account in accounts}, sees
        for channel in {account["channel"] for account in accounts}:
            assert channel in sees
    alice = printed.splitlines()[-1]
    channels = {a["channel"] for a in (await as_token(inbox, alice, ACCOUNTS))["accounts"]}
    assert channels == {"EMAIL", "WHATSAPP", "LINKEDIN"}


async def test_the_demo_token_sees_every_channel(inbox: Inbox) -> None:
    alice = inbox.tokens["alice"]
    by_channel = {
        channel: [
            edge["node"]
            for edge in (await as_token(inbox, alice, CHANNEL, channel=channel))["conversations"][
                "edges"
            ]
        ]
        for channel in ("EMAIL", "WHATSAPP", "LINKEDIN")
    }
    assert all(by_channel.values()), {c: len(n) for c, n in by_channel.items()}
    whatsapp = by_channel["WHATSAPP"]
    # Her own WhatsApp; bob's stays his.
    assert {node["account"]["externalId"] for node in whatsapp} == {ALICE_WHATSAPP_ID}
    assert WHATSAPP_ID not in {n["account"]["externalId"] for ns in by_channel.values() for n in ns}
    assert {node["isGroup"] for node in whatsapp} == {True, False}
    groups = [node for node in whatsapp if node["isGroup"]]
    assert all(len(group["participants"]) > 2 for group in groups)

    # A WhatsApp participant is matched by phone: Jane Doe, whom the CRM has in national form.
    [jane] = [contact for contact in build_demo(7).crm.contacts if contact.key == "jane_doe"]
    assert jane.phones[0].startswith("0")
    by_phone = [
        participant
        for node in whatsapp
        for participant in node["participants"]
        if not participant["isSelf"] and (participant["crmMatch"] or {}).get("method") == "PHONE"
    ]
    assert any(
        p["crmMatch"]["contact"] == {"name": "Jane Doe"} and not p["crmMatch"]["ambiguous"]
        for p in by_phone
    ), by_phone
    assert all(p["phoneNumber"] and p["phoneNumber"].startswith("+") for p in by_phone)

"""Every client call against a real sandbox over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.unipile.unipile_testkit import GMAIL, LINKEDIN, OUTLOOK, WHATSAPP, collect
from unipile import (
    AccountType,
    ChatType,
    EmailAttendee,
    EmailKind,
    FolderRole,
    IdentifierType,
    UnipileClient,
    count_requests,
)


async def test_accounts(client: UnipileClient) -> None:
    page = await client.list_accounts()
    assert page.cursor is None
    # acc_whatsapp_demo_0002: alice's own WhatsApp, so that she sees every channel.
    assert {a.id for a in page.items} == {
        GMAIL,
        OUTLOOK,
        WHATSAPP,
        LINKEDIN,
        "acc_whatsapp_demo_0002",
    }
    gmail = await client.get_account(GMAIL)
    assert gmail.type is AccountType.GOOGLE_OAUTH
    assert gmail.own_identifier == "alice@northwind.fr"
    whatsapp = await client.get_account(WHATSAPP)
    assert whatsapp.own_identifier is not None and whatsapp.own_identifier.isdigit()


async def test_list_chats_filters(client: UnipileClient) -> None:
    whatsapp = (await client.list_chats(account_id=WHATSAPP, limit=250)).items
    assert whatsapp and all(c.account_id == WHATSAPP for c in whatsapp)
    assert any(c.type is ChatType.GROUP and c.provider_id.endswith("@g.us") for c in whatsapp)
    linkedin = (await client.list_chats(account_type=AccountType.LINKEDIN, limit=250)).items
    assert linkedin and all(c.account_type is AccountType.LINKEDIN for c in linkedin)
    both = await collect(
        lambda cursor: client.list_chats(account_id=f"{WHATSAPP},{LINKEDIN}", cursor=cursor)
    )
    assert len(both) == len(whatsapp) + len(linkedin)
    unread = (await client.list_chats(unread=True, limit=250)).items
    assert unread and all(c.unread_count > 0 for c in unread)
    middle = whatsapp[len(whatsapp) // 2].timestamp
    assert middle is not None
    before = (await client.list_chats(account_id=WHATSAPP, before=middle, limit=250)).items
    after = (await client.list_chats(account_id=WHATSAPP, after=middle, limit=250)).items
    assert all(c.timestamp is not None and c.timestamp < middle for c in before)
    assert all(c.timestamp is not None and c.timestamp > middle for c in after)


async def test_get_chat_has_last_message(client: UnipileClient) -> None:
    listed = (await client.list_chats(account_id=WHATSAPP, limit=1)).items[0]
    chat = await client.get_chat(listed.id, account_id=WHATSAPP)
    assert chat.last_message is not None
    assert chat.last_message.timestamp == chat.timestamp
    assert chat.last_message.chat_id == chat.id


async def test_messages_and_attendees(client: UnipileClient) -> None:
    chat = (await client.list_chats(account_id=WHATSAPP, limit=1)).items[0]
    messages = (await client.list_chat_messages(chat.id, limit=250)).items
    stamps = [m.timestamp for m in messages]
    assert stamps == sorted(stamps, reverse=True)
    attendees = (await client.list_chat_attendees(chat.id)).items
    me = next(a for a in attendees if a.is_self)
    other = next(a for a in attendees if not a.is_self)
    from_other = (await client.list_chat_messages(chat.id, sender_id=other.provider_id)).items
    assert from_other and all(m.sender_id == other.provider_id for m in from_other)
    assert all(not m.is_sender for m in from_other)
    assert any(m.is_sender and m.sender_id == me.provider_id for m in messages)
    window = (
        await client.list_chat_messages(chat.id, before=stamps[0], after=stamps[-1], limit=250)
    ).items
    assert [m.id for m in window] == [m.id for m in messages[1:-1]]
    fetched = await client.get_message(messages[0].id)
    assert fetched == messages[0]


async def test_account_attendees(client: UnipileClient) -> None:
    attendees = (await client.list_account_attendees(account_id=LINKEDIN, limit=250)).items
    assert all(a.account_id == LINKEDIN for a in attendees)
    others = [a for a in attendees if not a.is_self]
    assert others and all(a.provider_id.startswith("ACoAA") for a in others)
    assert others[0].specifics["provider"] == "LINKEDIN"


async def test_send_chat_message_is_read_back(client: UnipileClient) -> None:
    chat = (await client.list_chats(account_id=LINKEDIN, limit=250)).items[-1]
    sent = await client.send_chat_message(chat.id, text="Hello from the test", account_id=LINKEDIN)
    assert sent.message_id is not None
    again = await client.get_chat(chat.id)
    assert again.last_message is not None and again.last_message.id == sent.message_id
    assert again.last_message.is_sender and again.last_message.text == "Hello from the test"
    top = (await client.list_chats(account_id=LINKEDIN, limit=1)).items[0]
    assert top.id == chat.id


async def test_set_chat_read(client: UnipileClient) -> None:
    chat = (await client.list_chats(unread=True, limit=1)).items[0]
    await client.set_chat_read(chat.id, read=True)
    assert (await client.get_chat(chat.id)).unread_count == 0
    await client.set_chat_read(chat.id, read=False)
    assert (await client.get_chat(chat.id)).unread_count > 0


async def test_list_emails_filters(client: UnipileClient) -> None:
    emails = (await client.list_emails(account_id=GMAIL, limit=250)).items
    assert emails and all(e.account_id == GMAIL and e.kind is EmailKind.FULL for e in emails)
    dates = [e.date for e in emails]
    assert dates == sorted(dates, reverse=True)
    sent = (await client.list_emails(account_id=GMAIL, folder="SENT", limit=250)).items
    assert sent and all(e.role is FolderRole.SENT for e in sent)
    jane = (await client.list_emails(from_="jane.doe@acme-corp.com", limit=250)).items
    assert jane and all(
        e.from_attendee and e.from_attendee.identifier == "jane.doe@acme-corp.com" for e in jane
    )
    to_jane = (await client.list_emails(to="jane.doe@acme-corp.com", limit=250)).items
    assert to_jane and all(e.role is FolderRole.SENT for e in to_jane)
    anyone = (
        await client.list_emails(any_email=["jane.doe@acme-corp.com", "tom.baker@outlook.com"])
    ).items
    assert {e.id for e in jane} | {e.id for e in to_jane} <= {e.id for e in anyone}
    cutoff = dates[10]
    assert all(
        e.date < cutoff for e in (await client.list_emails(account_id=GMAIL, before=cutoff)).items
    )
    recent = (await client.list_emails(account_id=GMAIL, after=cutoff, limit=250)).items
    assert [e.id for e in recent] == [e.id for e in emails[:10]]
    meta = (await client.list_emails(account_id=GMAIL, meta_only=True, limit=5)).items
    assert all(e.kind is EmailKind.META and e.body == "" == e.body_plain for e in meta)


async def test_get_email_and_set_read(client: UnipileClient) -> None:
    email = (await client.list_emails(account_id=OUTLOOK, limit=1)).items[0]
    assert await client.get_email(email.id) == email
    by_provider_id = await client.get_email(email.provider_id, account_id=OUTLOOK)
    assert by_provider_id.id == email.id
    await client.set_email_read(email.id, read=False, account_id=OUTLOOK)
    assert (await client.get_email(email.id)).read_date is None
    await client.set_email_read(email.id, read=True)
    assert (await client.get_email(email.id)).is_read


async def test_send_email_threads_replies(client: UnipileClient) -> None:
    parent = (await client.list_emails(account_id=GMAIL, folder="INBOX", limit=1)).items[0]
    assert parent.from_attendee is not None
    sent = await client.send_email(
        account_id=GMAIL,
        body="<p>Thanks!</p>",
        to=[parent.from_attendee],
        cc=["boss@northwind.fr"],
        bcc=[EmailAttendee("audit@northwind.fr", IdentifierType.EMAIL_ADDRESS, None)],
        reply_to=parent.id,
    )
    assert sent.id is not None and sent.tracking_id
    reply = await client.get_email(sent.id)
    assert reply.thread_id == parent.thread_id
    assert reply.in_reply_to is not None and reply.in_reply_to.id == parent.id
    assert reply.subject is not None and reply.subject.lower().startswith("re:")
    assert reply.to_attendees[0].identifier == parent.from_attendee.identifier
    assert reply.to_attendees[0].display_name == parent.from_attendee.display_name
    assert [a.identifier for a in reply.cc_attendees] == ["boss@northwind.fr"]
    assert reply.role is FolderRole.SENT
    thread = (await client.list_emails(account_id=GMAIL, limit=250)).items
    assert thread[0].id == sent.id


async def test_send_new_email(client: UnipileClient) -> None:
    sent = await client.send_email(
        account_id=OUTLOOK, body="Hi", to=["new.person@example.org"], subject="Hello"
    )
    assert sent.id is not None
    email = await client.get_email(sent.id)
    assert email.subject == "Hello" and email.in_reply_to is None


async def test_folders(client: UnipileClient) -> None:
    folders = (await client.list_folders(account_id=GMAIL)).items
    assert {f.role for f in folders} == {FolderRole.INBOX, FolderRole.SENT}
    assert all(f.account_id == GMAIL and f.nb_mails for f in folders)
    assert len((await client.list_folders()).items) == 4


async def test_webhooks_lifecycle(client: UnipileClient) -> None:
    webhook_id = await client.create_webhook(
        request_url="http://127.0.0.1:9/hook",
        source="messaging",
        name="crm",
        headers=[("Unipile-Auth", "s3cret")],
        account_ids=[WHATSAPP],
    )
    (webhook,) = (await client.list_webhooks()).items
    assert webhook.id == webhook_id and webhook.name == "crm" and webhook.source == "messaging"
    assert webhook.headers == (("Unipile-Auth", "s3cret"),)
    assert webhook.account_ids == (WHATSAPP,)
    assert webhook.events == ("message_received",)
    await client.delete_webhook(webhook_id)
    assert (await client.list_webhooks()).items == ()


async def test_request_shape(sandbox_url: str) -> None:
    """Header names, query encoding and the URL layout, observed with a mock transport."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"object": "ChatList", "items": [], "cursor": None})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = UnipileClient(http, sandbox_url + "/", "k")
        after = datetime(2025, 2, 1, 13, 34, 56, 789000, tzinfo=UTC) + timedelta(hours=0)
        await client.list_chats(unread=False, after=after, limit=5, cursor="abc=")
    (request,) = seen
    assert request.url.path == "/api/v1/chats"
    assert request.headers["x-api-key"] == "k"
    assert request.headers["accept"] == "application/json"
    assert dict(request.url.params) == {
        "unread": "false",
        "after": "2025-02-01T13:34:56.789Z",
        "limit": "5",
        "cursor": "abc=",
    }


async def test_count_requests_shared_by_child_tasks(client: UnipileClient) -> None:
    import asyncio

    with count_requests() as outer:
        await client.list_accounts()
        with count_requests() as inner:
            await asyncio.gather(*(client.get_account(a) for a in (GMAIL, WHATSAPP, LINKEDIN)))
    assert inner.value == 3
    assert outer.value == 4


async def test_unicode_survives_multipart(client: UnipileClient) -> None:
    sent = await client.send_email(
        account_id=GMAIL, body="Café ✓ 👍", to=["zoë@exämple.com"], subject="Réunion"
    )
    assert sent.id is not None
    email = await client.get_email(sent.id)
    assert (email.body_plain, email.subject) == ("Café ✓ 👍", "Réunion")
    assert email.to_attendees[0].identifier == "zoë@exämple.com"


async def test_sandbox_tolerates_the_node_sdk_put_body(
    client: UnipileClient, http: httpx.AsyncClient, sandbox_url: str
) -> None:
    email = (await client.list_emails(account_id=GMAIL, limit=1)).items[0]
    response = await http.put(
        f"{sandbox_url}/api/v1/emails/{email.id}",
        content=b"[object Object]",
        headers={"X-API-KEY": "test-key", "Content-Type": "text/plain"},
    )
    assert response.status_code == 200
    assert response.json() == {"object": "EmailUpdated"}
    bad_patch = await http.patch(
        f"{sandbox_url}/api/v1/chats/{(await client.list_chats(limit=1)).items[0].id}",
        json={"action": "archive"},
        headers={"X-API-KEY": "test-key"},
    )
    assert bad_patch.status_code == 400 and bad_patch.json()["status"] == 400

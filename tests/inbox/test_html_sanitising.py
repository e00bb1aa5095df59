"""An email's HTML is hostile input: `Message.html` answers it sanitised, `html(raw: true)` as is.

The sanitiser's own tests feed it what attackers send (scripts, handlers, obfuscated
`javascript:` URLs, SVG, frames, forms, CSS expressions, meta refresh, very long and very deep
bodies) and read what comes out with a parser of their own; the outside test sends such an email
through the sandbox and reads it over GraphQL from the served app: live, stored, and as a
subscription's event.
"""

from __future__ import annotations

import time
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from db.models import Message as StoredMessage
from inbox.html import PARSE_WORK_BUDGET, SanitisedBodies, sanitised_html
from inbox.html_cost import parse_work
from tests.graphql_ws import subscribe
from tests.inbox.conftest import Inbox
from tests.inbox.test_conversations import hold_automatic_storage
from tests.inbox.test_live_messages import register

# Elements that run, load, submit, navigate, or parse their content as something else.
DANGEROUS_TAGS = frozenset(
    {"script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "form"}
    | {"input", "button", "select", "textarea", "meta", "link", "base", "svg", "math"}
    | {"noscript", "template", "audio", "video", "source", "portal", "dialog"}
)
SAFE_LINK_SCHEMES = ("http:", "https:", "mailto:", "tel:")
SAFE_IMAGE_SOURCES = ("http:", "https:", "data:image/png", "data:image/gif", "data:image/jpeg")


class Reading(HTMLParser):
    """What a sanitised body holds, as a parser other than html5ever reads it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend((tag, name, value or "") for name, value in attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def read(sanitised: str) -> Reading:
    reading = Reading()
    reading.feed(sanitised)
    reading.close()
    return reading


def assert_inert(sanitised: str) -> None:
    """Nothing in `sanitised` can run, load a frame, submit, or point anywhere unsafe."""
    reading = read(sanitised)
    assert DANGEROUS_TAGS.isdisjoint(reading.tags), reading.tags
    for tag, name, value in reading.attributes:
        assert not name.startswith("on"), (tag, name, value)
        assert name not in {"id", "name", "class", "srcdoc", "formaction", "action"}, name
        url = "".join(value.split()).lower()
        if name == "href":
            assert url.startswith(SAFE_LINK_SCHEMES), (tag, value)
        if name == "src":
            assert url.startswith(SAFE_IMAGE_SOURCES), (tag, value)
        if name == "style":
            assert "expression" not in url and "url(" not in url, value
            assert "javascript" not in url and "position" not in url, value
    links = [(tag, name, value) for tag, name, value in reading.attributes if tag == "a"]
    assert all(
        ("a", "target", "_blank") in links and ("a", "rel", "noopener noreferrer") in links
        for _ in links
    ), links


# (what is sent, what comes back), exactly.
HOSTILE = {
    "script": ("<p>hi</p><script>alert(1)</script>", "<p>hi</p>"),
    "script in capitals, unclosed": ("<p>hi<SCRIPT SRC=//evil.test/x.js>", "<p>hi</p>"),
    "onerror": (
        '<img src="https://img.example.com/a.png" onerror="alert(1)" alt="a">',
        '<img src="https://img.example.com/a.png" alt="a" referrerpolicy="no-referrer">',
    ),
    "onclick and onmouseover": (
        '<div onclick="alert(1)" onmouseover=alert(2)>x</div>',
        "<div>x</div>",
    ),
    "javascript: link": (
        '<a href="javascript:alert(1)">click</a>',
        '<a target="_blank" rel="noopener noreferrer">click</a>',
    ),
    "javascript: with a tab as a character reference": (
        '<a href="jav&#x09;ascript:alert(1)">click</a>',
        '<a target="_blank" rel="noopener noreferrer">click</a>',
    ),
    "javascript: with a newline, spaces and capitals": (
        '<a href="  JaVa\nScRiPt:alert(1)">click</a>',
        '<a target="_blank" rel="noopener noreferrer">click</a>',
    ),
    "javascript: as character references": (
        '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
        '<a target="_blank" rel="noopener noreferrer">x</a>',
    ),
    "vbscript: link": (
        '<a href="vbscript:msgbox(1)">x</a>',
        '<a target="_blank" rel="noopener noreferrer">x</a>',
    ),
    "data: link": (
        '<a href=" data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
        '<a rel="noopener noreferrer" target="_blank">x</a>',
    ),
    "data: SVG image": (
        '<img src="data:image/svg+xml,&lt;svg onload=alert(1)&gt;">',
        '<img referrerpolicy="no-referrer">',
    ),
    "svg with a script": ("<svg><script>alert(1)</script></svg><p>after</p>", "<p>after</p>"),
    "svg onload": ('<svg onload="alert(1)"><circle r="5"/></svg>ok', "ok"),
    "iframe": ('<iframe src="https://evil.test/"></iframe>ok', "ok"),
    "iframe srcdoc": ('<iframe srcdoc="<script>alert(1)</script>"></iframe>ok', "ok"),
    "object and embed": ('<object data="x.swf"></object><embed src="x.swf">ok', "ok"),
    "form": (
        '<form action="https://evil.test/"><input name="password"><button>Log in</button></form>',
        "Log in",
    ),
    "meta refresh": ('<meta http-equiv="refresh" content="0;url=https://evil.test/">ok', "ok"),
    "base href": ('<base href="https://evil.test/"><a href="https://a.test/">a</a>', None),
    "style sheet": ("<style>body { display: none }</style><p>ok</p>", "<p>ok</p>"),
    "style expression": (
        '<div style="width: expression(alert(1)); color: red">x</div>',
        '<div style="color:red">x</div>',
    ),
    "style expression behind a CSS escape": (
        '<div style="width: e\\78pression(alert(1)); color: red">x</div>',
        '<div style="color:red">x</div>',
    ),
    "style expression behind a CSS comment": (
        '<div style="width: expr/**/ession(alert(1))">x</div>',
        "<div>x</div>",
    ),
    "style expression behind a character reference": (
        '<div style="width: expr&#101;ssion(alert(1))">x</div>',
        "<div>x</div>",
    ),
    "style url and position": (
        '<div style="background: url(https://t.test/p.gif); position: fixed; top: 0">x</div>',
        '<div style="">x</div>',  # ammonia's CSS filter leaves the emptied attribute
    ),
    "noscript that hides an image in a title": (
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
        '&lt;p title="<img referrerpolicy="no-referrer">"&gt;',
    ),
    "mathml mutation": (
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "",
    ),
    "id, name and class": (
        '<div id="root" class="fixed inset-0" name="x">x</div>',
        "<div>x</div>",
    ),
    "relative and protocol-relative links": (
        '<a href="/admin/delete">a</a><a href="//evil.test/">b</a>',
        '<a target="_blank" rel="noopener noreferrer">a</a>'
        '<a target="_blank" rel="noopener noreferrer">b</a>',
    ),
    "a link's own target and rel": (
        '<a href="https://a.test/" target="_top" rel="opener">a</a>',
        '<a href="https://a.test/" target="_blank" rel="noopener noreferrer">a</a>',
    ),
    "comment": ("<!--[if IE]><script>alert(1)</script><![endif]-->ok", "ok"),
    "a whole document": (
        "<!DOCTYPE html><html><head><title>News</title><meta charset=utf-8><link rel=stylesheet "
        'href="https://t.test/a.css"></head><body onload="alert(1)"><p>x</p></body></html>',
        "<p>x</p>",
    ),
    "lone surrogate": ("<p>a\ud800b</p>", "<p>a\ufffdb</p>"),
    "NUL": ("<p>a\x00b</p>", "<p>ab</p>"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_html_comes_back_inert(name: str) -> None:
    raw, expected = HOSTILE[name]
    sanitised = sanitised_html(raw)
    assert_inert(sanitised)
    if expected is not None:
        assert sanitised == expected


def test_what_a_reader_expects_is_kept() -> None:
    raw = (
        '<table width="600" cellpadding="0" cellspacing="0" border="0" bgcolor="#ffffff">'
        '<tr><td align="left" valign="top" style="padding: 8px 12px; font-family: Arial; '
        'color: #333333">'
        "<h1>Quarterly update</h1><p>Dear Ada, <b>bold</b>, <i>italic</i>, <u>underlined</u>"
        ', <font color="#cc0000" face="Georgia">red</font>.</p>'
        "<ul><li>one</li><li>two</li></ul><blockquote>quoted</blockquote>"
        '<a href="https://acme.example/report?id=7&amp;x=1">the report</a> '
        '<a href="mailto:ada@acme.example">mail</a> <a href="tel:+442079460000">call</a>'
        '<img src="https://img.acme.example/logo.png" width="120" height="40" alt="Acme">'
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="inline">'
        "</td></tr></table>"
    )
    assert sanitised_html(raw) == (
        '<table width="600" cellpadding="0" cellspacing="0" border="0" bgcolor="#ffffff">'
        '<tbody><tr><td align="left" valign="top" style="padding:8px 12px;font-family:Arial;'
        'color:#333333">'
        "<h1>Quarterly update</h1><p>Dear Ada, <b>bold</b>, <i>italic</i>, <u>underlined</u>"
        ', <font color="#cc0000" face="Georgia">red</font>.</p>'
        "<ul><li>one</li><li>two</li></ul><blockquote>quoted</blockquote>"
        '<a href="https://acme.example/report?id=7&amp;x=1" target="_blank" '
        'rel="noopener noreferrer">the report</a> '
        '<a href="mailto:ada@acme.example" target="_blank" rel="noopener noreferrer">mail</a> '
        '<a href="tel:+442079460000" target="_blank" rel="noopener noreferrer">call</a>'
        '<img src="https://img.acme.example/logo.png" width="120" height="40" alt="Acme" '
        'referrerpolicy="no-referrer">'
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="inline" referrerpolicy="no-referrer">'
        "</td></tr></tbody></table>"
    )


def test_invalid_html_still_gives_a_string() -> None:
    assert sanitised_html("<p>unclosed <b>bold <i>and <table><td>cell") == (
        "<p>unclosed <b>bold <i>and </i></b></p><table><tbody><tr><td>cell</td></tr></tbody>"
        "</table>"
    )
    assert sanitised_html("<<<>>>&&&;<//>") == "&lt;&lt;&lt;&gt;&gt;&gt;&amp;&amp;&amp;;"
    assert sanitised_html("") == ""


def test_a_body_ten_thousand_times_as_long_is_sanitised_whole() -> None:
    unit = '<p onclick="alert(1)"><a href="javascript:alert(1)">x</a><img src=x onerror=y></p>'
    started = time.monotonic()
    sanitised = sanitised_html(unit * 10_000)
    assert time.monotonic() - started < 5
    assert (
        sanitised
        == (
            '<p><a target="_blank" rel="noopener noreferrer">x</a>'
            '<img referrerpolicy="no-referrer"></p>'
        )
        * 10_000
    )


def test_deeply_nested_tags_come_back_as_their_text_at_once() -> None:
    # html5ever alone takes about half a minute over this (its time is quadratic in depth).
    raw = "<div>" * 100_000 + "deep <b>text</b> &amp; more" + "</div>" * 100_000
    started = time.monotonic()
    sanitised = sanitised_html(raw)
    assert time.monotonic() - started < 2
    assert sanitised.split() == ["deep", "text", "&amp;", "more"]


DEPTH = "<div>" * 2_000
# Each `<p>` makes html5ever scan the open elements, 2,000 of them, 150,000 times: about a
# second, unless a table cell or a script ends the scan or the markup.
COSTLY_TAIL = "<p>x</p>" * 150_000
HIDDEN_END_TAGS = {
    "in a comment": "<!--" + "</div>" * 2_000 + "-->",
    "in an attribute's value": '<span title="' + "</div>" * 2_000 + '">',
    "in a style sheet": "<style>" + "</div>" * 2_000 + "</style>",
    "in an SVG CDATA section": "<svg><![CDATA[>" + "</div>" * 2_000 + "]]></svg>",
    "in an escaped script": "<script><!--<script>" + "</div>" * 2_000 + "</script>",
    "ignored at a table cell": "<table><tr><td>" + "</div>" * 2_000,
}


@pytest.mark.parametrize("where", HIDDEN_END_TAGS)
def test_end_tags_the_parser_ignores_do_not_hide_the_depth(where: str) -> None:
    raw = DEPTH + HIDDEN_END_TAGS[where] + COSTLY_TAIL
    assert parse_work(raw, PARSE_WORK_BUDGET) > PARSE_WORK_BUDGET
    started = time.monotonic()
    sanitised = sanitised_html(raw)
    assert time.monotonic() - started < 2
    assert "<" not in sanitised


def test_large_ordinary_email_is_sanitised_not_flattened() -> None:
    """A long newsletter, and a thread quoting itself 30 deep, are far below the budget."""
    row = (
        '<tr><td style="padding:4px"><p>Item <b>{0}</b> &amp; more, <a href="https://a.test/{0}"'
        ">read</a><br><img src=https://img.test/{0}.png></p></td></tr>"
    )
    newsletter = "<table>" + "".join(row.format(n) for n in range(3_000)) + "</table>"
    quoted = "".join(f"<blockquote><p>Reply {n}</p>" + "<p>line</p>" * 200 for n in range(30))
    for raw in (newsletter, quoted + "</blockquote>" * 30):
        assert parse_work(raw, PARSE_WORK_BUDGET) < PARSE_WORK_BUDGET / 5
        assert sanitised_html(raw).startswith(("<table><tbody><tr>", "<blockquote><p>Reply 0"))


FRAGMENTS = (
    "<script>",
    "</script>",
    "<svg>",
    "<math>",
    "<style>",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<iframe src=x>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">',
    "<a href=jav&#x09;ascript:x>",
    '<div style="x:expression(1)">',
    "<noscript>",
    "<textarea>",
    '"',
    "'",
    "<p>",
    "</p>",
    "<table>",
    "<td>",
    "<form>",
    "<b>",
    "&lt;",
    "&",
    "<",
    ">",
    "/",
    "=",
    " onload=",
    "text",
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40))
def test_any_mix_of_hostile_fragments_comes_back_inert(fragments: list[str]) -> None:
    assert_inert(sanitised_html("".join(fragments)))


def test_the_cache_keeps_recent_bodies_within_its_characters() -> None:
    cache = SanitisedBodies(characters=80)
    cache.put("a" * 5, "A" * 5)
    cache.put("b" * 5, "B" * 5)
    assert cache.get("a" * 5) == "A" * 5  # now the most recently used
    cache.put("c" * 11, "C")  # over an eighth of 80: not kept
    assert cache.get("c" * 11) is None
    for n in range(7):
        cache.put(str(n) * 5, "x" * 5)  # 10 characters each: 90 in all, one must go
    assert cache.get("b" * 5) is None
    assert cache.get("a" * 5) == "A" * 5
    cache.put("7" * 5, "x" * 5)
    assert cache.get("0" * 5) is None
    assert [cache.get(str(n) * 5) for n in range(1, 8)] == ["x" * 5] * 7


# -- through the served API -------------------------------------------------------------------

GMAIL = "acc_gmail_demo_000001"
HOSTILE_TEXT = (
    '<img src=x onerror="alert(1)"><a href="jav&#x09;ascript:alert(2)">win</a>'
    "<script>alert(3)</script><svg><script>alert(4)</script></svg>"
    '<iframe src="https://evil.test/"></iframe><b>Invoice</b>'
)
# The sandbox makes an email's HTML of its text, a paragraph per line, as it is.
RAW_BODY = f"<p>{HOSTILE_TEXT}</p>"
SANITISED_BODY = (
    '<p><img referrerpolicy="no-referrer"><a target="_blank" rel="noopener noreferrer">win</a>'
    "<b>Invoice</b></p>"
)
MESSAGES = """
query($id: ID!) { conversation(id: $id) { storage { stored } messages(first: 5) { edges { node {
  externalId html raw: html(raw: true) sanitised: html(raw: false)
} } } } }
"""
STORE = """
mutation($id: ID!) { storeConversation(input: {conversationId: $id}) {
  messagesAdded error { code } } }
"""


async def the_thread(inbox: Inbox, thread_id: str) -> str:
    result = await inbox.query(
        "query { conversations(first: 20, filter: {channels: [EMAIL]}) "
        "{ edges { node { id externalId } } } }"
    )
    assert "errors" not in result, result
    return next(
        edge["node"]["id"]
        for edge in result["data"]["conversations"]["edges"]
        if edge["node"]["externalId"] == thread_id
    )


async def messages_of(inbox: Inbox, conversation_id: str) -> tuple[bool, list[dict[str, Any]]]:
    """Whether the conversation is stored (its messages then come from the database), and its
    messages."""
    result = await inbox.query(MESSAGES, {"id": conversation_id})
    assert "errors" not in result, result
    conversation = result["data"]["conversation"]
    stored = conversation["storage"]["stored"]
    return stored, [edge["node"] for edge in conversation["messages"]["edges"]]


async def test_a_hostile_email_is_served_sanitised_unless_raw_is_asked(inbox: Inbox) -> None:
    await hold_automatic_storage()
    posted = await inbox.sandbox_post(
        "/_sandbox/messages",
        {
            "account_id": GMAIL,
            "thread_id": "hostile-thread-1",
            "sender": "mallory@evil.example",
            "subject": "Your invoice",
            "text": HOSTILE_TEXT,
        },
    )
    assert posted.status_code == 201, posted.text
    conversation_id = await the_thread(inbox, "hostile-thread-1")
    expected = {
        "externalId": posted.json()["id"],
        "html": SANITISED_BODY,
        "sanitised": SANITISED_BODY,
        "raw": RAW_BODY,
    }

    assert await messages_of(inbox, conversation_id) == (False, [expected])

    stored = await inbox.query(STORE, {"id": conversation_id})
    assert stored["data"]["storeConversation"] == {"messagesAdded": 1, "error": None}
    # The copy keeps the body as sent; what is served from it is sanitised all the same.
    assert await StoredMessage.filter(external_id=expected["externalId"]).values_list(
        "html", flat=True
    ) == [RAW_BODY]
    assert await messages_of(inbox, conversation_id) == (True, [expected])


LIVE_HTML = "subscription { messageReceived { message { externalId html } } }"
LIVE_RAW = "subscription { messageReceived { message { externalId html(raw: true) } } }"


async def test_subscribers_of_one_message_get_the_form_each_asks_for(inbox: Inbox) -> None:
    # The server builds an event's message once for all its subscribers.
    await hold_automatic_storage()
    await register(inbox)
    token = inbox.tokens["alice"]
    async with (
        subscribe(inbox.url, token, LIVE_HTML) as sanitised,
        subscribe(inbox.url, token, LIVE_RAW) as raw,
    ):
        posted = await inbox.sandbox_post(
            "/_sandbox/messages",
            {
                "account_id": GMAIL,
                "thread_id": "hostile-thread-2",
                "sender": "mallory@evil.example",
                "text": HOSTILE_TEXT,
            },
        )
        assert posted.status_code == 201, posted.text
        sanitised_event = (await sanitised.next(seconds=10))["data"]["messageReceived"]
        raw_event = (await raw.next(seconds=10))["data"]["messageReceived"]
    email_id = posted.json()["id"]
    assert sanitised_event == {"message": {"externalId": email_id, "html": SANITISED_BODY}}
    assert raw_event == {"message": {"externalId": email_id, "html": RAW_BODY}}

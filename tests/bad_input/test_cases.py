"""Hostile input, case by case, over the served app: never an internal error.

Each case is a document, its variables and what must come back: a top-level error with a stable
`extensions.code` (and the argument at fault), a mutation payload's `error { code field }`, or
simply nothing found. Every response is checked for `INTERNAL_SERVER_ERROR` and HTTP 500, for a
code on every error, and for speed; after the refusals, everything stored is still there and no
refused send reached UniPile. Requests are encoded with `\\uXXXX` escapes, as a client may send a
lone surrogate in JSON.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from core.ids import to_global_id
from db.models import (
    Company,
    CompanyDomain,
    Contact,
    ContactIdentifier,
    Conversation,
    ConversationLink,
    ConversationParticipant,
    Message,
    NeverStoreEntry,
    OutboundMessage,
)
from tests.inbox.conftest import Inbox

NUL = "a\x00b"
SURROGATE = "a\ud800b"
LONE_LOW = "\udc00"
# Each case answers within this, however large its input.
FAST_SECONDS = 2.0


def raw_id(type_name: str, key: str) -> str:
    """A global id of `Type:key`, whatever the key: what a forger builds."""
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def offset_cursor(kind: str, offset: str) -> str:
    """An offset cursor of a database list, forged."""
    return base64.urlsafe_b64encode(f"offset:{kind}:{offset}".encode()).decode()


@dataclass(frozen=True)
class Demo:
    """Ids of real demo objects, so that a case fails on its bad part, not on a missing id."""

    chat: str
    thread: str
    contact: str
    company: str
    account: str


Variables = Mapping[str, Any] | Callable[[Demo], Mapping[str, Any]] | str


@dataclass(frozen=True)
class Case:
    """`where`: `errors` (a top-level error with `code`, whose `extensions.argument` is `field`
    when given), `payload` (the mutation's `error`), `item` (the first bulk result's `error`),
    or `none` (no error at all, and the root field null or a list of nulls)."""

    name: str
    document: str
    variables: Variables
    code: str | None
    field: str | None = None
    where: str = "payload"
    errors: int | None = None


def mutation(name: str, input_type: str, selection: str = "") -> str:
    return (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) "
        f"{{ {selection} error {{ code field }} }} }}"
    )


CREATE_CONTACT = mutation("createContact", "CreateContactInput", "contact { id }")
UPDATE_CONTACT = mutation("updateContact", "UpdateContactInput", "contact { id }")
DELETE_CONTACT = mutation("deleteContact", "DeleteContactInput", "deletedId")
CREATE_COMPANY = mutation("createCompany", "CreateCompanyInput", "company { id }")
UPDATE_COMPANY = mutation("updateCompany", "UpdateCompanyInput", "company { id }")
DELETE_COMPANY = mutation("deleteCompany", "DeleteCompanyInput", "deletedId")
FROM_PARTICIPANT = mutation(
    "createContactFromParticipant", "CreateContactFromParticipantInput", "contact { id }"
)
ADD_NEVER_STORE = mutation("addNeverStore", "NeverStoreInput")
REMOVE_NEVER_STORE = mutation("removeNeverStore", "NeverStoreInput")
LINK = mutation("linkConversation", "LinkConversationInput", "conversationId")
UNLINK = mutation("unlinkConversation", "LinkConversationInput", "conversationId")
STORE = mutation("storeConversation", "ConversationInput", "conversationId messagesAdded")
STORE_MANY = mutation(
    "storeConversations", "ConversationsInput", "results { conversationId error { code field } }"
)
LINK_MANY = mutation(
    "linkConversations", "LinkConversationsInput", "results { conversationId error { code field } }"
)
FORGET = mutation("forgetConversation", "ForgetConversationInput", "forgotten")
FORGET_IDENTIFIER = mutation("forgetIdentifier", "ForgetIdentifierInput", "messagesDeleted")
MARK_READ = mutation("markConversationRead", "MarkConversationReadInput", "conversationId")
SEND = mutation("sendMessage", "SendMessageInput", "message { id }")
REPLY = mutation("replyToConversation", "ReplyToConversationInput", "message { id }")

NODE = "query($id: ID!) { node(id: $id) { id } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
CONVERSATION = "query($id: ID!) { conversation(id: $id) { id } }"
CONTACTS = "query($s: String, $a: String, $f: Int) { contacts(search: $s, after: $a, first: $f) { totalCount } }"  # noqa: E501
COMPANIES = "query($s: String, $a: String) { companies(search: $s, after: $a) { totalCount } }"
INBOX = (
    "query($f: ConversationFilter, $a: String) { conversations(filter: $f, after: $a) "
    "{ edges { cursor } } }"
)
MESSAGES = (
    "query($id: ID!, $a: String) { node(id: $id) { ... on Conversation "
    "{ messages(first: 5, after: $a) { edges { cursor } } } } }"
)
LINKED = (
    "query($id: ID!, $a: String) { node(id: $id) { ... on Contact "
    "{ conversations(after: $a) { edges { cursor } } } } }"
)

BAD = "BAD_USER_INPUT"
ARGUMENTS = {"s": "search", "a": "after"}
NOT_FOUND = "NOT_FOUND"
WORDS_11 = " ".join(f"w{index}" for index in range(11))
WORDS_472 = " ".join(["ab"] * 472)
# Keys no primary key has: beyond 32 bits, digits `int()` refuses, out of range, NUL.
BAD_KEYS = ["99999999999", "²", "٣", "-1", "0", "1\x00", " 1"]


def contact_input(**fields: Any) -> dict[str, Any]:
    return {"firstName": "Ada", "lastName": "Lovelace", **fields}


def chat_input(**fields: Any) -> Callable[[Demo], dict[str, Any]]:
    return lambda demo: {"conversationId": demo.chat, **fields}


def thread_input(**fields: Any) -> Callable[[Demo], dict[str, Any]]:
    return lambda demo: {"conversationId": demo.thread, **fields}


def query_cases() -> list[Case]:
    keyed = [raw_id(type_name, key) for type_name in ("Contact", "Company") for key in BAD_KEYS]
    cases = [
        Case(f"node: {key[:20]!r}", NODE, {"id": key}, None, where="none")
        for key in [NUL, SURROGATE, "x" * 100_000, *keyed]
    ]
    cases += [
        Case("nodes of hostile ids", NODES, {"ids": [NUL, SURROGATE, *keyed]}, None, where="none"),
        Case("nodes: 100,001 ids", NODES, {"ids": ["x"] * 100_001}, BAD, "ids", "errors"),
        Case("conversation: NUL", CONVERSATION, {"id": NUL}, BAD, where="errors"),
        Case(
            "conversation: overflowing account",
            CONVERSATION,
            {"id": raw_id("Conversation", "99999999999:chat")},
            None,
            where="none",
        ),
        Case(
            "conversation: superscript account",
            CONVERSATION,
            {"id": raw_id("Conversation", "²:chat")},
            None,
            where="none",
        ),
        Case(
            "conversation: NUL in the UniPile id",
            CONVERSATION,
            {"id": raw_id("Conversation", "1:ch\x00at")},
            None,
            where="none",
        ),
        Case(
            "conversation: 300-character UniPile id",
            CONVERSATION,
            {"id": raw_id("Conversation", "1:" + "c" * 300)},
            None,
            where="none",
        ),
    ]
    for document, root in ((CONTACTS, "contacts"), (COMPANIES, "companies")):
        hostile = {
            "search with NUL": {"s": NUL},
            "search with a lone surrogate": {"s": SURROGATE},
            "search of 50,000 characters": {"s": "a" * 50_000},
            "search of 472 words": {"s": WORDS_472},
            "search of 11 words": {"s": WORDS_11},
            "after with NUL": {"a": NUL},
            "after with a lone surrogate": {"a": SURROGATE},
            "after of 100 kB": {"a": "x" * 100_000},
            # Unsealed offset cursors: `int()` refuses 4,300 digits and more.
            "after, forged with 5,000 digits": {"a": offset_cursor(root, "1" * 5_000)},
            "after, forged beyond 2^31": {"a": offset_cursor(root, str(2**40))},
            "after, forged with ²": {"a": offset_cursor(root, "²")},
        }
        cases += [
            Case(f"{root}: {name}", document, given, BAD, ARGUMENTS[next(iter(given))], "errors")
            for name, given in hostile.items()
        ]
    cases += [
        Case("contacts: first beyond Int", CONTACTS, {"f": 2**40}, BAD, where="errors"),
        Case("contacts: first of 1e6", CONTACTS, {"f": 1_000_000}, BAD, "first", "errors"),
        Case(
            "inbox: account id above 2^64",
            INBOX,
            {"f": {"accountIds": [raw_id("Account", str(2**64 + 1))]}},
            BAD,
            "filter.accountIds[0]",
            "errors",
        ),
        Case(
            "inbox: account id ²",
            INBOX,
            {"f": {"accountIds": [raw_id("Account", "²")]}},
            BAD,
            "filter.accountIds[0]",
            "errors",
        ),
        Case(
            "inbox: NUL account id",
            INBOX,
            {"f": {"accountIds": [NUL]}},
            BAD,
            "filter.accountIds[0]",
            "errors",
        ),
        Case(
            "inbox: 101 account ids",
            INBOX,
            lambda demo: {"f": {"accountIds": [demo.account] * 101}},
            BAD,
            "filter.accountIds",
            "errors",
        ),
        Case(
            "inbox: folder of 100 kB",
            INBOX,
            {"f": {"folder": "x" * 100_000}},
            BAD,
            "filter.folder",
            "errors",
        ),
        Case("inbox: folder NUL", INBOX, {"f": {"folder": NUL}}, BAD, "filter.folder", "errors"),
        Case(
            "inbox: folder, surrogate",
            INBOX,
            {"f": {"folder": SURROGATE}},
            BAD,
            "filter.folder",
            "errors",
        ),
        Case(
            "inbox: linkedTo overflowing",
            INBOX,
            {"f": {"linkedTo": raw_id("Contact", "99999999999")}},
            BAD,
            "filter.linkedTo",
            "errors",
        ),
        Case(
            "inbox: linkedTo ²",
            INBOX,
            {"f": {"linkedTo": raw_id("Company", "²")}},
            BAD,
            "filter.linkedTo",
            "errors",
        ),
        Case(
            "inbox: linkedTo an account",
            INBOX,
            lambda demo: {"f": {"linkedTo": demo.account}},
            BAD,
            "filter.linkedTo",
            "errors",
        ),
        Case(
            "inbox: linkedTo NUL", INBOX, {"f": {"linkedTo": NUL}}, BAD, "filter.linkedTo", "errors"
        ),
        Case("inbox: after, NUL", INBOX, {"a": NUL}, BAD, "after", "errors"),
        Case("inbox: after, surrogate", INBOX, {"a": SURROGATE}, BAD, "after", "errors"),
        Case("inbox: after of 100 kB", INBOX, {"a": "x" * 100_000}, BAD, "after", "errors"),
        Case(
            "messages: after, NUL",
            MESSAGES,
            lambda demo: {"id": demo.chat, "a": NUL},
            BAD,
            "after",
            "errors",
        ),
        Case(
            "messages: after of 100 kB",
            MESSAGES,
            lambda demo: {"id": demo.chat, "a": "x" * 100_000},
            BAD,
            "after",
            "errors",
        ),
        Case(
            "contact's conversations: after, forged with 5,000 digits",
            LINKED,
            lambda demo: {
                "id": demo.contact,
                "a": offset_cursor(f"linked-contact-{demo.contact}", "1" * 5_000),
            },
            BAD,
            "after",
            "errors",
        ),
        Case(
            "contact's conversations: after, surrogate",
            LINKED,
            lambda demo: {"id": demo.contact, "a": SURROGATE},
            BAD,
            "after",
            "errors",
        ),
        Case("a required variable missing", NODE, {}, BAD, where="errors", errors=1),
        Case(
            "variables nested 900 deep",
            NODES,
            '{"ids": ' + "[" * 900 + '"x"' + "]" * 900 + "}",
            BAD,
            where="errors",
        ),
        Case("an object for an ID", NODE, {"id": {"nested": ["garbage"]}}, BAD, where="errors"),
    ]
    return cases


def contact_cases() -> list[Case]:
    cases = [
        Case(
            "createContact: firstName NUL",
            CREATE_CONTACT,
            contact_input(firstName=NUL),
            BAD,
            "firstName",
        ),
        Case(
            "createContact: lastName surrogate",
            CREATE_CONTACT,
            contact_input(lastName=SURROGATE),
            BAD,
            "lastName",
        ),
        Case(
            "createContact: 201-character name",
            CREATE_CONTACT,
            contact_input(firstName="n" * 201),
            BAD,
            "firstName",
        ),
        Case(
            "createContact: invalid punycode",
            CREATE_CONTACT,
            contact_input(emails=["info@xn--zz.com"]),
            BAD,
            "emails[0]",
        ),
        Case(
            "createContact: email NUL",
            CREATE_CONTACT,
            contact_input(emails=["ja\x00ne@acme.com"]),
            BAD,
            "emails[0]",
        ),
        Case(
            "createContact: 321-character email",
            CREATE_CONTACT,
            contact_input(emails=["jane@acme.com", "j" * 309 + "@acme.com.fr"]),
            BAD,
            "emails[1]",
        ),
        Case(
            "createContact: 51 emails",
            CREATE_CONTACT,
            contact_input(emails=[f"j{index}@acme.com" for index in range(51)]),
            BAD,
            "emails",
        ),
        Case(
            "createContact: phone NUL",
            CREATE_CONTACT,
            contact_input(phones=["+33 6 12 34\x00 56 78"]),
            BAD,
            "phones[0]",
        ),
        Case(
            "createContact: phone, trailing surrogate",
            CREATE_CONTACT,
            contact_input(phones=["06 12 34 56 78\ud800"]),
            BAD,
            "phones[0]",
        ),
        Case(
            "createContact: providerId NUL",
            CREATE_CONTACT,
            contact_input(providerIds=["ACoAA\x00B"]),
            BAD,
            "providerIds[0]",
        ),
        Case(
            "createContact: providerId surrogate",
            CREATE_CONTACT,
            contact_input(providerIds=[LONE_LOW]),
            BAD,
            "providerIds[0]",
        ),
        Case(
            "createContact: 321-character providerId",
            CREATE_CONTACT,
            contact_input(providerIds=["p" * 321]),
            BAD,
            "providerIds[0]",
        ),
        Case(
            "createContact: companyId overflowing",
            CREATE_CONTACT,
            contact_input(companyId=raw_id("Company", "99999999999")),
            BAD,
            "companyId",
        ),
        Case(
            "createContact: companyId ²",
            CREATE_CONTACT,
            contact_input(companyId=raw_id("Company", "²")),
            BAD,
            "companyId",
        ),
        Case(
            "createContact: companyId NUL",
            CREATE_CONTACT,
            contact_input(companyId=NUL),
            BAD,
            "companyId",
        ),
        Case(
            "createContact: missing firstName",
            CREATE_CONTACT,
            {"lastName": "Lovelace"},
            BAD,
            where="errors",
            errors=1,
        ),
        Case(
            "createContact: unknown field",
            CREATE_CONTACT,
            contact_input(nickname="Ada"),
            BAD,
            where="errors",
            errors=1,
        ),
        Case(
            "createContact: a list for a name",
            CREATE_CONTACT,
            contact_input(firstName=["Ada"]),
            BAD,
            where="errors",
        ),
        Case(
            "updateContact: overflowing id",
            UPDATE_CONTACT,
            {"id": raw_id("Contact", "99999999999"), "firstName": "Ada"},
            BAD,
            "id",
        ),
        Case("updateContact: NUL id", UPDATE_CONTACT, {"id": NUL}, BAD, "id"),
        Case(
            "updateContact: firstName NUL",
            UPDATE_CONTACT,
            lambda demo: {"id": demo.contact, "firstName": NUL},
            BAD,
            "firstName",
        ),
        Case(
            "updateContact: emails replaced by a bad list",
            UPDATE_CONTACT,
            lambda demo: {"id": demo.contact, "emails": ["new@acme.com", "bad\x00@acme.com"]},
            BAD,
            "emails[1]",
        ),
        Case(
            "updateContact: invalid punycode replaces nothing",
            UPDATE_CONTACT,
            lambda demo: {"id": demo.contact, "emails": ["jane@xn--zz.com"]},
            BAD,
            "emails[0]",
        ),
        Case(
            "updateContact: companyId ²",
            UPDATE_CONTACT,
            lambda demo: {"id": demo.contact, "companyId": raw_id("Company", "²")},
            BAD,
            "companyId",
        ),
        Case(
            "deleteContact: overflowing id",
            DELETE_CONTACT,
            {"id": raw_id("Contact", "99999999999")},
            BAD,
            "id",
        ),
        Case("deleteContact: id ²", DELETE_CONTACT, {"id": raw_id("Contact", "²")}, BAD, "id"),
        Case("deleteContact: NUL id", DELETE_CONTACT, {"id": NUL}, BAD, "id"),
        Case(
            "deleteContact: a company's id",
            DELETE_CONTACT,
            lambda demo: {"id": demo.company},
            BAD,
            "id",
        ),
        Case(
            "createContactFromParticipant: NUL conversation",
            FROM_PARTICIPANT,
            {"conversationId": NUL, "identifier": "x"},
            BAD,
            "conversationId",
        ),
        Case(
            "createContactFromParticipant: identifier NUL",
            FROM_PARTICIPANT,
            chat_input(identifier=NUL),
            BAD,
            "identifier",
        ),
        Case(
            "createContactFromParticipant: 321-character identifier",
            FROM_PARTICIPANT,
            chat_input(identifier="i" * 321),
            BAD,
            "identifier",
        ),
        Case(
            "createContactFromParticipant: 402-character name",
            FROM_PARTICIPANT,
            chat_input(identifier="x", name="n" * 402),
            BAD,
            "name",
        ),
        Case(
            "createContactFromParticipant: not a participant",
            FROM_PARTICIPANT,
            chat_input(identifier="nobody@nowhere.example"),
            BAD,
            "identifier",
        ),
    ]
    return cases


def company_cases() -> list[Case]:
    return [
        Case("createCompany: name NUL", CREATE_COMPANY, {"name": NUL}, BAD, "name"),
        Case("createCompany: 201-character name", CREATE_COMPANY, {"name": "n" * 201}, BAD, "name"),
        Case(
            "createCompany: invalid punycode",
            CREATE_COMPANY,
            {"name": "X", "domains": ["xn--zz.com"]},
            BAD,
            "domains[0]",
        ),
        Case(
            "createCompany: domain NUL",
            CREATE_COMPANY,
            {"name": "X", "domains": ["acme.com", "ac\x00me.org"]},
            BAD,
            "domains[1]",
        ),
        Case(
            "createCompany: domain surrogate",
            CREATE_COMPANY,
            {"name": "X", "domains": [SURROGATE + ".com"]},
            BAD,
            "domains[0]",
        ),
        Case(
            "createCompany: a URL of 100 kB",
            CREATE_COMPANY,
            {"name": "X", "domains": ["https://acme.com/" + "p" * 100_000]},
            BAD,
            "domains[0]",
        ),
        Case(
            "createCompany: 51 domains",
            CREATE_COMPANY,
            {"name": "X", "domains": [f"d{index}.com" for index in range(51)]},
            BAD,
            "domains",
        ),
        Case(
            "updateCompany: name NUL",
            UPDATE_COMPANY,
            lambda demo: {"id": demo.company, "name": NUL},
            BAD,
            "name",
        ),
        Case(
            "updateCompany: domains with invalid punycode replace nothing",
            UPDATE_COMPANY,
            lambda demo: {"id": demo.company, "domains": ["xn--zz.com"]},
            BAD,
            "domains[0]",
        ),
        Case(
            "updateCompany: overflowing id",
            UPDATE_COMPANY,
            {"id": raw_id("Company", "99999999999"), "name": "X"},
            BAD,
            "id",
        ),
        Case(
            "deleteCompany: overflowing id",
            DELETE_COMPANY,
            {"id": raw_id("Company", "99999999999")},
            BAD,
            "id",
        ),
        Case("deleteCompany: id ²", DELETE_COMPANY, {"id": raw_id("Company", "²")}, BAD, "id"),
        Case(
            "addNeverStore: email NUL",
            ADD_NEVER_STORE,
            {"kind": "EMAIL", "value": "a\x00@b.com"},
            BAD,
            "value",
        ),
        Case(
            "addNeverStore: invalid punycode",
            ADD_NEVER_STORE,
            {"kind": "DOMAIN", "value": "xn--zz.com"},
            BAD,
            "value",
        ),
        Case(
            "addNeverStore: phone surrogate",
            ADD_NEVER_STORE,
            {"kind": "PHONE", "value": "+33 6 12 34 56 78" + LONE_LOW},
            BAD,
            "value",
        ),
        Case(
            "addNeverStore: a domain of 100 kB",
            ADD_NEVER_STORE,
            {"kind": "DOMAIN", "value": "d" * 100_000 + ".com"},
            BAD,
            "value",
        ),
        Case(
            "removeNeverStore: invalid punycode",
            REMOVE_NEVER_STORE,
            {"kind": "DOMAIN", "value": "xn--zz.com"},
            BAD,
            "value",
        ),
        Case(
            "forgetIdentifier: NUL",
            FORGET_IDENTIFIER,
            {"identifier": "a\x00@b.com"},
            BAD,
            "identifier",
        ),
        Case(
            "forgetIdentifier: invalid punycode",
            FORGET_IDENTIFIER,
            {"identifier": "a@xn--zz.com"},
            BAD,
            "identifier",
        ),
        Case(
            "forgetIdentifier: 321 characters",
            FORGET_IDENTIFIER,
            {"identifier": "a" * 309 + "@example.com"},
            BAD,
            "identifier",
        ),
    ]


def conversation_cases() -> list[Case]:
    overflowing = raw_id("Conversation", "99999999999:chat")
    return [
        Case(
            "linkConversation: NUL conversation",
            LINK,
            {"conversationId": NUL},
            BAD,
            "conversationId",
        ),
        Case(
            "linkConversation: surrogate conversation",
            LINK,
            {"conversationId": LONE_LOW, "contactId": LONE_LOW},
            BAD,
            "conversationId",
        ),
        Case(
            "linkConversation: overflowing account",
            LINK,
            {"conversationId": overflowing, "contactId": raw_id("Contact", "1")},
            NOT_FOUND,
            "conversationId",
        ),
        Case(
            "linkConversation: contactId NUL",
            LINK,
            chat_input(contactId=NUL),
            BAD,
            "contactId",
        ),
        Case(
            "linkConversation: contactId overflowing",
            LINK,
            chat_input(contactId=raw_id("Contact", "99999999999")),
            BAD,
        ),
        Case(
            "linkConversation: companyId ²", LINK, chat_input(companyId=raw_id("Company", "²")), BAD
        ),
        Case(
            "unlinkConversation: contactId NUL", UNLINK, chat_input(contactId=NUL), BAD, "contactId"
        ),
        Case("storeConversation: NUL", STORE, {"conversationId": NUL}, BAD, "conversationId"),
        Case(
            "storeConversation: overflowing account",
            STORE,
            {"conversationId": overflowing},
            NOT_FOUND,
            "conversationId",
        ),
        Case(
            "storeConversation: 300-character UniPile id",
            STORE,
            lambda demo: {"conversationId": raw_id("Conversation", "1:" + "c" * 300)},
            NOT_FOUND,
            "conversationId",
        ),
        Case(
            "storeConversations: a surrogate among them",
            STORE_MANY,
            {"conversationIds": [LONE_LOW, NUL]},
            BAD,
            "conversationId",
            "item",
        ),
        Case(
            "storeConversations: 101 ids",
            STORE_MANY,
            {"conversationIds": ["x"] * 101},
            BAD,
            "input",
        ),
        Case(
            "linkConversations: a bad contact id",
            LINK_MANY,
            lambda demo: {"items": [{"conversationId": demo.chat, "contactId": NUL}]},
            BAD,
            "contactId",
            "item",
        ),
        Case(
            "forgetConversation: NUL",
            FORGET,
            {"conversationId": NUL},
            BAD,
            "conversationId",
        ),
        Case(
            "forgetConversation: overflowing account",
            FORGET,
            {"conversationId": overflowing},
            NOT_FOUND,
            "conversationId",
        ),
        Case(
            "markConversationRead: ² account",
            MARK_READ,
            {"conversationId": raw_id("Conversation", "²:chat")},
            NOT_FOUND,
            "conversationId",
        ),
        Case(
            "sendMessage: idempotencyKey of 129 characters",
            SEND,
            chat_input(text="hello", idempotencyKey="k" * 129),
            BAD,
            "idempotencyKey",
        ),
        Case(
            "sendMessage: idempotencyKey NUL",
            SEND,
            chat_input(text="hello", idempotencyKey="k\x00"),
            BAD,
            "idempotencyKey",
        ),
        Case(
            "sendMessage: idempotencyKey surrogate",
            SEND,
            chat_input(text="hello", idempotencyKey=SURROGATE),
            BAD,
            "idempotencyKey",
        ),
        Case("sendMessage: text NUL", SEND, chat_input(text=NUL), BAD, "text"),
        Case("sendMessage: text surrogate", SEND, chat_input(text=SURROGATE), BAD, "text"),
        Case("sendMessage: text of 200 kB", SEND, chat_input(text="t" * 200_000), BAD, "text"),
        Case(
            "sendMessage: NUL conversation",
            SEND,
            {"conversationId": NUL, "text": "hello"},
            BAD,
            "conversationId",
        ),
        Case(
            "replyToConversation: cc NUL",
            REPLY,
            thread_input(html="<p>x</p>", cc=["boss@example.org", "a\x00@b.com"]),
            BAD,
            "cc[1]",
        ),
        Case(
            "replyToConversation: 101 bcc",
            REPLY,
            thread_input(html="<p>x</p>", bcc=[f"b{index}@example.org" for index in range(101)]),
            BAD,
            "bcc",
        ),
        Case(
            "replyToConversation: html surrogate",
            REPLY,
            thread_input(html=SURROGATE),
            BAD,
            "html",
        ),
        Case(
            "replyToConversation: idempotencyKey of 129 characters",
            REPLY,
            thread_input(html="<p>x</p>", idempotencyKey="k" * 129),
            BAD,
            "idempotencyKey",
        ),
    ]


CASES = [*query_cases(), *contact_cases(), *company_cases(), *conversation_cases()]


async def post(inbox: Inbox, document: str, variables: str) -> tuple[int, str, float]:
    """Status, body and seconds of one request whose variables are JSON text already."""
    body = '{"query": ' + json.dumps(document) + ', "variables": ' + variables + "}"
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=inbox.url, timeout=30) as client:
        response = await client.post(
            "/graphql",
            content=body.encode("ascii"),
            headers={
                "Authorization": f"Bearer {inbox.tokens['alice']}",
                "Content-Type": "application/json",
            },
        )
    return response.status_code, response.text, time.monotonic() - started


def variables_json(case: Case, demo: Demo) -> str:
    if isinstance(case.variables, str):
        return case.variables
    given = case.variables(demo) if callable(case.variables) else case.variables
    if case.document.startswith("mutation($input"):
        # A mutation case gives its `input`.
        given = {"input": given}
    # `\uXXXX` escapes: lone surrogates travel as a client's JSON encoder writes them.
    return json.dumps(given, ensure_ascii=True)


def problems_of(case: Case, status: int, text: str, seconds: float) -> list[str]:
    """What is wrong with one answer; empty when it is as the case expects."""
    if status != 200:
        return [f"HTTP {status}: {text[:300]}"]
    problems = []
    if "INTERNAL_SERVER_ERROR" in text:
        problems.append(f"an internal error: {text[:300]}")
    if seconds > FAST_SECONDS:
        problems.append(f"took {seconds:.2f} s")
    result = json.loads(text)
    errors = result.get("errors") or []
    problems += [f"an error without a code: {e}" for e in errors if "code" not in e["extensions"]]
    found = _found(case, result, errors)
    if found is not None:
        problems.append(found)
    return problems


def _found(case: Case, result: dict[str, Any], errors: list[dict[str, Any]]) -> str | None:
    """What differs from the expected outcome, if anything."""
    if case.where == "errors":
        codes = [(e["extensions"]["code"], e["extensions"].get("argument")) for e in errors]
        wanted = [c for c in codes if c[0] == case.code and case.field in (None, c[1])]
        if not wanted:
            return f"expected {case.code} on {case.field}, got {codes}"
        if case.errors is not None and len(errors) != case.errors:
            return f"expected {case.errors} errors, got {codes}"
        return None
    if errors:
        return f"unexpected top-level errors: {errors}"
    [value] = result["data"].values()
    if case.where == "none":
        nothing = value is None or (isinstance(value, list) and all(v is None for v in value))
        return None if nothing else f"expected nothing, got {value}"
    error = value["results"][0]["error"] if case.where == "item" else value["error"]
    expected = {"code": case.code, "field": case.field}
    return None if error == expected else f"expected {expected}, got {error}"


async def demo_ids(inbox: Inbox) -> Demo:
    chats = await inbox.query(
        "{ conversations(first: 40) { edges { node { id channel isGroup } } } "
        "accounts { id } companies(first: 1) { edges { node { id } } } }"
    )
    nodes = [edge["node"] for edge in chats["data"]["conversations"]["edges"]]
    contact = await Contact.get(first_name="Jane", last_name="Doe")
    return Demo(
        chat=next(n["id"] for n in nodes if n["channel"] == "LINKEDIN" and not n["isGroup"]),
        thread=next(n["id"] for n in nodes if n["channel"] == "EMAIL"),
        contact=to_global_id("Contact", contact.id),
        company=chats["data"]["companies"]["edges"][0]["node"]["id"],
        account=chats["data"]["accounts"][0]["id"],
    )


async def records() -> dict[str, Any]:
    """What the CRM holds, which no refused call may change."""
    return {
        "contacts": await Contact.all()
        .order_by("id")
        .values_list("id", "first_name", "last_name", "company_id"),
        "identifiers": await ContactIdentifier.all()
        .order_by("id")
        .values_list("contact_id", "kind", "value", "original"),
        "companies": await Company.all().order_by("id").values_list("id", "name"),
        "domains": await CompanyDomain.all().order_by("id").values_list("company_id", "domain"),
        "links": await ConversationLink.all().order_by("id").values_list("id", "removed_at"),
        "never_store": await NeverStoreEntry.all().order_by("id").values_list("kind", "value"),
        "outbound": await OutboundMessage.all().count(),
    }


async def stored_rows() -> dict[str, set[int]]:
    """The stored conversations, participants and messages, by id: automatic storage may add
    some meanwhile (the inbox read schedules it), but none may go."""
    return {
        "conversations": set(await Conversation.all().values_list("id", flat=True)),
        "participants": set(await ConversationParticipant.all().values_list("id", flat=True)),
        "messages": set(await Message.all().values_list("id", flat=True)),
    }


async def test_hostile_input_is_refused_cleanly_and_loses_nothing(inbox: Inbox) -> None:
    demo = await demo_ids(inbox)
    # Something stored to lose: a linked conversation with its messages.
    linked = await inbox.query(
        LINK, {"input": {"conversationId": demo.chat, "contactId": demo.contact}}
    )
    assert linked["data"]["linkConversation"]["error"] is None, linked
    before, rows_before = await records(), await stored_rows()
    assert rows_before["messages"] and before["links"] and before["identifiers"]
    await inbox.upstream_stats()

    failures = {}
    for case in CASES:
        status, text, seconds = await post(inbox, case.document, variables_json(case, demo))
        problems = problems_of(case, status, text, seconds)
        if problems:
            failures[case.name] = problems
    assert not failures, json.dumps(failures, indent=1, ensure_ascii=False)

    assert await records() == before
    rows_after = await stored_rows()
    assert all(rows_before[table] <= rows_after[table] for table in rows_before)
    sent = [
        request
        for request in (await inbox.upstream_stats())["requests"]
        if request.startswith("POST") or request.startswith("PUT") or request.startswith("PATCH")
    ]
    assert sent == [], "a refused call reached UniPile"


def test_the_table_names_every_case_once() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 100


SEARCH_CONTACTS = (
    "query($s: String) { contacts(first: 100, search: $s) { totalCount edges { node { name } } } }"
)
SEARCH_COMPANIES = (
    "query($s: String) { companies(first: 100, search: $s) { totalCount edges { node { name } } } }"
)


async def test_a_search_of_ten_words_stays_fast(inbox: Inbox) -> None:
    workspace_id = (await Contact.get(first_name="Jane", last_name="Doe")).workspace_id
    await Company.bulk_create(
        Company(workspace_id=workspace_id, name=f"Company {index} abcdefgh")
        for index in range(2_000)
    )
    await Contact.bulk_create(
        Contact(workspace_id=workspace_id, first_name=f"First{index}", last_name="Abcdefgh")
        for index in range(2_000)
    )
    contacts = await Contact.filter(last_name="Abcdefgh").values_list("id", flat=True)
    await ContactIdentifier.bulk_create(
        ContactIdentifier(
            workspace_id=workspace_id,
            contact_id=pk,
            kind="EMAIL",
            value=f"someone{pk}@abcdefgh.example",
            original=f"someone{pk}@abcdefgh.example",
        )
        for pk in contacts
    )
    # Ten words, each found in every row but the last: every condition is evaluated.
    words = "a b c d e f g h abcdefgh " + "abcdefgh"[::-1]
    for document in (SEARCH_CONTACTS, SEARCH_COMPANIES):
        started = time.monotonic()
        result = await inbox.query(document, {"s": words})
        seconds = time.monotonic() - started
        assert "errors" not in result, result
        assert seconds < 1.5, f"{seconds:.2f} s"
    found = await inbox.query(SEARCH_CONTACTS, {"s": "JANE   doe jane"})
    assert [edge["node"]["name"] for edge in found["data"]["contacts"]["edges"]] == ["Jane Doe"]


async def test_a_domain_in_punycode_or_unicode_is_one_identifier(inbox: Inbox) -> None:
    created = [
        await inbox.query(
            mutation("createContact", "CreateContactInput", "contact { emails { value } }"),
            {"input": contact_input(emails=[email])},
        )
        for email in ("info@xn--strae-oqa.de", "Info@Straße.de", "jane@straße.de")
    ]
    values = [
        [e["value"] for e in result["data"]["createContact"]["contact"]["emails"]]
        for result in created
    ]
    # IDNA 2008: `ß` stays itself; `strasse.de` would be another domain.
    assert values == [
        ["info@xn--strae-oqa.de"],
        ["info@xn--strae-oqa.de"],
        ["jane@xn--strae-oqa.de"],
    ]

    company = mutation("createCompany", "CreateCompanyInput", "company { domains }")
    first = await inbox.query(
        company, {"input": {"name": "Straße", "domains": ["xn--strae-oqa.de"]}}
    )
    assert first["data"]["createCompany"] == {
        "company": {"domains": ["xn--strae-oqa.de"]},
        "error": None,
    }
    again = await inbox.query(
        company, {"input": {"name": "Again", "domains": ["https://www.STRASSE.de", "straße.de"]}}
    )
    assert again["data"]["createCompany"] == {
        "company": None,
        "error": {"code": BAD, "field": "domains[1]"},
    }

    rules = "rules { neverStore { kind value } }"
    added = await inbox.query(
        mutation("addNeverStore", "NeverStoreInput", rules),
        {"input": {"kind": "DOMAIN", "value": "Straße.de"}},
    )
    assert {"kind": "DOMAIN", "value": "xn--strae-oqa.de"} in (
        added["data"]["addNeverStore"]["rules"]["neverStore"]
    )
    removed = await inbox.query(
        mutation("removeNeverStore", "NeverStoreInput", rules),
        {"input": {"kind": "DOMAIN", "value": "xn--strae-oqa.de"}},
    )
    assert {"kind": "DOMAIN", "value": "xn--strae-oqa.de"} not in (
        removed["data"]["removeNeverStore"]["rules"]["neverStore"]
    )

"""Request helpers shared by the sandbox's routes."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, cast
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

from unipile.sandbox._problems import ApiError
from unipile.sandbox._runtime import Sandbox
from unipile.sandbox._shapes import JSON

MALFORMED = ApiError(400, "malformed_request", "Malformed request", "The body is not valid JSON")
NOT_UTF8 = ApiError(400, "malformed_request", "Malformed request", "The form is not UTF-8")


def sandbox(request: Request) -> Sandbox:
    return cast(Sandbox, request.app.state.sandbox)


def ok(data: JSON, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def listing(kind: str, items: list[JSON], cursor: str | None) -> JSONResponse:
    return ok({"object": f"{kind}List", "items": items, "cursor": cursor})


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise MALFORMED from None
    if not isinstance(body, dict):
        raise MALFORMED
    return body


async def form(request: Request) -> dict[str, str]:
    """A multipart (or urlencoded) form, parsed with the standard library; a 400 when it is not
    UTF-8.

    Starlette's own form parser needs python-multipart, which the project does not depend on.
    """
    try:
        return await _form(request)
    except UnicodeDecodeError:
        raise NOT_UTF8 from None


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "")
    body = await request.body()
    if not content_type.startswith("multipart/form-data"):
        return dict(parse_qsl(body.decode()))
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str) and part.get_filename() is None:
            # Form fields carry no charset; decoding as text would assume ASCII, browsers and
            # httpx send UTF-8.
            raw = cast(bytes, part.get_payload(decode=True))
            fields[name] = raw.decode("utf-8")
    return fields

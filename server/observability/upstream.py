"""The HTTP transport of UniPile calls: each request carries the current request id, so that a
call can be traced from Switchboard's log line to UniPile's."""

from __future__ import annotations

import httpx

from server.observability.request_ids import REQUEST_ID_HEADER, current_request_id


class ObservedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request_id = current_request_id()
        if request_id is not None:
            request.headers[REQUEST_ID_HEADER] = request_id
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()

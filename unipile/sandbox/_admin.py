"""The ``/_sandbox`` routes: live mode, faults and request counters (never faulted)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from unipile.sandbox._http import json_body, ok, sandbox
from unipile.sandbox._problems import missing


async def post_message(request: Request) -> JSONResponse:
    return ok(sandbox(request).post_live_message(await json_body(request)), 201)


async def set_account_status(request: Request) -> JSONResponse:
    body = await json_body(request)
    if not isinstance(body.get("status"), str):
        raise missing("status is required")
    account_id = str(request.path_params["account_id"])
    return ok(sandbox(request).set_account_status(account_id, body["status"]))


async def get_faults(request: Request) -> JSONResponse:
    return ok(sandbox(request).faults.as_json())


async def set_faults(request: Request) -> JSONResponse:
    faults = sandbox(request).faults
    faults.update(await json_body(request))
    return ok(faults.as_json())


async def get_stats(request: Request) -> JSONResponse:
    return ok(sandbox(request).stats.as_json())


async def get_account_stats(request: Request) -> JSONResponse:
    return ok(sandbox(request).stats.accounts_json())


async def reset_stats(request: Request) -> JSONResponse:
    stats = sandbox(request).stats
    stats.reset()
    return ok(stats.as_json())


ROUTES = [
    Route("/_sandbox/messages", post_message, methods=["POST"]),
    Route("/_sandbox/accounts/{account_id}/status", set_account_status, methods=["POST"]),
    Route("/_sandbox/faults", get_faults),
    Route("/_sandbox/faults", set_faults, methods=["POST"]),
    Route("/_sandbox/stats", get_stats),
    Route("/_sandbox/stats/accounts", get_account_stats),
    Route("/_sandbox/stats/reset", reset_stats, methods=["POST"]),
]

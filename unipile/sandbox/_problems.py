"""RFC-7807 error answers, shaped as UniPile sends them (``status`` always in the body)."""

from __future__ import annotations

from starlette.responses import JSONResponse

from unipile.sandbox._shapes import problem


class ApiError(Exception):
    def __init__(self, status: int, type_: str, title: str, detail: str | None = None) -> None:
        super().__init__(detail or title)
        self.status, self.type, self.title, self.detail = status, type_, title, detail

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        body = problem(self.status, self.type, self.title, self.detail)
        return JSONResponse(body, status_code=self.status, headers=headers)


def not_found(what: str) -> ApiError:
    return ApiError(404, "resource_not_found", "Resource not found.", f"{what} not found")


def invalid(detail: str) -> ApiError:
    return ApiError(400, "invalid_parameters", "Invalid parameters", detail)


def missing(detail: str) -> ApiError:
    return ApiError(400, "missing_parameters", "Missing parameters", detail)


MISSING_CREDENTIALS = ApiError(
    401,
    "missing_credentials",
    "Missing credentials",
    "Some credentials are necessary to perform the request.",
)


def disconnected(account_id: str) -> ApiError:
    return ApiError(
        401, "disconnected_account", "Disconnected account", f"Account {account_id} is disconnected"
    )

"""One error shape for every failure: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from switchboard_gateway.sender import BrokerUnavailable

logger = logging.getLogger("switchboard.gateway")

CORRELATION_HEADER = "X-Correlation-Id"
# A 503 says when to try again: the broker or a service is usually back within seconds.
RETRY_AFTER_SECONDS = 1

ERROR_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


class ErrorInfo(BaseModel):
    code: str = Field(examples=["validation_error"])
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The body of every non-2xx answer."""

    error: ErrorInfo


def code_for(status_code: int) -> str:
    return ERROR_CODES.get(status_code, "error")


def error_response(
    status_code: int,
    message: str,
    *,
    code: str | None = None,
    details: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    info = ErrorInfo(code=code or code_for(status_code), message=message, details=list(details))
    return JSONResponse(
        ErrorResponse(error=info).model_dump(mode="json"), status_code=status_code, headers=headers
    )


def _message_for(exc: StarletteHTTPException) -> str:
    if isinstance(exc.detail, str) and exc.detail:
        return exc.detail
    try:
        return HTTPStatus(exc.status_code).phrase
    except ValueError:
        return "Error"


async def http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):
        raise exc
    code = getattr(exc, "code", None)
    headers = dict(exc.headers or {})
    if exc.status_code == 503:
        headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return error_response(exc.status_code, _message_for(exc), code=code, headers=headers)


async def broker_unavailable_handler(request: Request, exc: Exception) -> JSONResponse:
    """A command the broker refused or did not confirm: the client sends it again."""
    return error_response(
        503,
        "The broker is unavailable; try again",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _field_path(loc: Sequence[str | int]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _json_error_detail(error: dict[str, Any], document: Any) -> dict[str, Any]:
    position = error["loc"][-1] if isinstance(error["loc"][-1], int) else 0
    reason = (error.get("ctx") or {}).get("error", "invalid JSON")
    where = f"char {position}"
    if isinstance(document, str):
        line = document.count("\n", 0, position) + 1
        column = position - (document.rfind("\n", 0, position) + 1) + 1
        where = f"line {line} column {column} (char {position})"
    return {
        "field": "body",
        "message": f"Request body is not valid JSON: {reason} at {where}",
        "type": "json_invalid",
    }


def _not_an_object_detail() -> dict[str, Any]:
    return {
        "field": "body",
        "message": "Request body must be a JSON object sent with Content-Type: application/json",
        "type": "model_attributes_type",
    }


def validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details: list[dict[str, Any]] = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            details.append(_json_error_detail(error, exc.body))
            continue
        if (
            tuple(error.get("loc", ())) == ("body",)
            and error.get("type") == "model_attributes_type"
        ):
            details.append(_not_an_object_detail())
            continue
        loc = list(error.get("loc", ()))
        location = loc.pop(0) if loc and loc[0] in ("body", "query", "path", "header") else "body"
        detail: dict[str, Any] = {
            "field": _field_path(loc) or location,
            "message": error.get("msg", "invalid value"),
            "type": error.get("type", "value_error"),
        }
        if location != "body":
            detail["in"] = location
        details.append(detail)
    return details


async def validation_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):
        raise exc
    details = validation_details(exc)
    fields = ", ".join(dict.fromkeys(detail["field"] for detail in details))
    return error_response(422, f"Request validation failed: {fields}", details=details)


async def unhandled_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    correlation_id = getattr(request.state, "correlation_id", None)
    logger.exception(
        "unhandled error on %s %s",
        request.method,
        request.url.path,
        extra={"correlation_id": correlation_id},
    )
    headers = {CORRELATION_HEADER: correlation_id} if correlation_id else None
    return error_response(500, "Internal server error", headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, http_exception_handler)
    app.add_exception_handler(BrokerUnavailable, broker_unavailable_handler)
    app.add_exception_handler(RequestValidationError, validation_exception_handler)
    app.add_exception_handler(Exception, unhandled_exception_handler)

"""Log lines as JSON (one object a line, for a log pipeline) or as text (for a terminal), each
with the current request id.

Structured values travel in a record's `fields` (`log.info("...", extra={"fields": {...}})`):
JSON lines carry them as keys, text lines as `key=value` after the message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson

from core.request_ids import current_request_id

# uvicorn's own loggers, which it configures with handlers of their own and no propagation.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error")
# Its access line is replaced by the request line of `server.observability.requests`.
UVICORN_ACCESS_LOGGER = "uvicorn.access"
# The message-free keys of a JSON line; a field of the same name does not overwrite them.
_RESERVED = frozenset({"time", "level", "logger", "message", "request_id"})


def record_fields(record: logging.LogRecord) -> Mapping[str, object]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, Mapping) else {}


RecordFactory = Callable[..., logging.LogRecord]


def _stamping(factory: RecordFactory) -> RecordFactory:
    """`factory`, its records stamped, when made, with the request id current where they were
    logged: every handler sees it, whichever formats it."""

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request_id = current_request_id()
        return record

    return make


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in record_fields(record).items():
            if key not in _RESERVED:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        text = super().format(record)
        extra = " ".join(
            f"{key}={value}" for key, value in record_fields(record).items() if value is not None
        )
        return f"{text} {extra}" if extra else text


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def _console_handlers() -> list[logging.Handler]:
    """The handlers writing the process's log to its console: the root logger's plain stream
    handler (`logging.basicConfig`'s, which the CLI sets up with `LOG_LEVEL`) and uvicorn's."""
    root = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    uvicorn = [h for name in UVICORN_LOGGERS for h in logging.getLogger(name).handlers]
    return list(dict.fromkeys([*root, *uvicorn]))


@contextmanager
def installed_logging(log_format: str) -> Iterator[None]:
    """Inside the block, the console's log lines are formatted as `log_format` says (`json` or
    `text`, the settings' `LOG_FORMAT`), each with its request id, and uvicorn's access line is
    off (the request line replaces it). Where lines go and from which level stays the CLI's
    choice; other handlers (a test's capture) are left alone. For the app's lifespan, which
    starts after uvicorn configured its loggers; after it, logging is as it was."""
    formatter = formatter_for(log_format)
    formatted = [(handler, handler.formatter) for handler in _console_handlers()]
    access = logging.getLogger(UVICORN_ACCESS_LOGGER)
    access_was_disabled = access.disabled
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(_stamping(factory))
    for handler, _ in formatted:
        handler.setFormatter(formatter)
    access.disabled = True
    try:
        yield
    finally:
        logging.setLogRecordFactory(factory)
        for handler, previous in formatted:
            handler.setFormatter(previous)
        access.disabled = access_was_disabled


def configure_logging(level: str) -> None:
    """The process's console log at `level`, for a command or a worker; an app served in it
    formats the lines as `LOG_FORMAT` says while it runs (`installed_logging`)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

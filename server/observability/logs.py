"""Log lines as JSON (one object a line, for a log pipeline) or as text (for a terminal), each
with the current request id.

Structured values travel in a record's `fields` (`log.info("...", extra={"fields": {...}})`):
JSON lines carry them as keys, text lines as `key=value` after the message.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from server.observability.request_ids import current_request_id

# uvicorn's own loggers, which it configures with handlers of their own and no propagation.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error")
# Its access line is replaced by the request line of `server.observability.requests`.
UVICORN_ACCESS_LOGGER = "uvicorn.access"
# The message-free keys of a JSON line; a field of the same name does not overwrite them.
_RESERVED = frozenset({"time", "level", "logger", "message", "request_id"})


def record_fields(record: logging.LogRecord) -> Mapping[str, object]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, Mapping) else {}


_base_record_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """A record stamped, when made, with the request id current where it was logged: every
    handler sees it, whichever formats it."""
    record = _base_record_factory(*args, **kwargs)
    record.request_id = current_request_id()
    return record


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


class SwitchboardHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler this module installs, told apart from others' on the same loggers. It
    writes to whatever `sys.stderr` is when it writes, as `logging.lastResort` does, so that a
    replaced stderr (a test's capture) is followed rather than kept once closed."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> Any:
        return sys.stderr


def install_logging(level: str, log_format: str) -> None:
    """Send the root logger's and uvicorn's records to stderr as `log_format` says (`json` or
    `text`, the settings' `LOG_FORMAT`), replacing the
    text handler `logging.basicConfig` gave the root logger (the CLI's) and uvicorn's own; other
    handlers (a test's capture) stay. Idempotent: run in the app's lifespan, after uvicorn
    configured its loggers."""
    logging.setLogRecordFactory(_record_with_request_id)
    handler = SwitchboardHandler()
    handler.setFormatter(formatter_for(log_format))
    root = logging.getLogger()
    for previous in list(root.handlers):
        if type(previous) in (logging.StreamHandler, SwitchboardHandler):
            root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level)
    for name in UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = [handler]
        uvicorn_logger.propagate = False
    logging.getLogger(UVICORN_ACCESS_LOGGER).disabled = True

"""Logs as one JSON object per line (``ROOMWARDEN_LOG_FORMAT=json``, the default of
``roomwarden serve``), each with the id of the request it belongs to (kit/requestid.py).

Fields: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``request_id`` (when in a
request), ``exception`` (a traceback, when there is one), and whatever a call passes as
``extra={"fields": {...}}`` (the access line's method, path, route, status, duration)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from roomwarden.kit import requestid


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or requestid.current.get()
        if request_id:
            line["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """For a person at a terminal: the message, then the request id in brackets."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", None) or requestid.current.get()
        return f"{text} [{request_id}]" if request_id else text


def config(fmt: str, level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the service and uvicorn (``uvicorn.run(log_config=)``,
    applied in every worker): one handler on stderr in ``fmt`` ("json" or "text"). uvicorn's
    own access log is off; the service writes its access line itself, with the request id."""
    formatter = (
        {"()": f"{__name__}.JSONFormatter"}
        if fmt == "json"
        else {"()": f"{__name__}.TextFormatter", "format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "loggers": {
            "roomwarden": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }

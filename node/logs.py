"""Logs on stderr, secrets never included: one JSON object per line (for machines and files),
or short human lines on a terminal (issue 16 item 6)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Final

__all__ = ["LOG_FORMATS", "HumanFormatter", "JsonFormatter", "configure_logging"]

LOG_FORMATS: Final = ("auto", "human", "json")

# Attributes every LogRecord has; anything else was passed through `extra=` and is data.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {
        key: value if isinstance(value, str | int | float | bool) else str(value)
        for key, value in vars(record).items()
        if key not in _STANDARD
    }


class JsonFormatter(logging.Formatter):
    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "node": self.node,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_extras(record))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    """`12:04:05 node started  did=… gateway=…`: the local time, a level word only when it
    is not info, the message, then its data; a traceback only at debug level."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        data = " ".join(f"{key}={value}" for key, value in _extras(record).items())
        line = f"{when} {level}{record.getMessage()}" + (f"  {data}" if data else "")
        if record.exc_info and logging.getLogger().isEnabledFor(logging.DEBUG):
            line += "\n" + self.formatException(record.exc_info)
        elif record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line += f"  ({type(error).__name__}: {str(error)[:200]})"
        return line


def configure_logging(node: str, level: int = logging.INFO, log_format: str = "json") -> None:
    """Log to stderr as `log_format` says: json, human, or auto (human on a terminal)."""
    human = log_format == "human" or (log_format == "auto" and sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(HumanFormatter() if human else JsonFormatter(node))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

"""One log record as one JSON line, for log collectors (Loki, Elasticsearch, journald's JSON export).

Both sides use it: `medfix cloud serve/score` with MEDFIX_LOG_FORMAT=json and `medfix edge run --log-format json`.
Times are UTC ISO 8601 with milliseconds; extra fields a caller passes (`log.info(..., extra={"device": k})`) are
kept as they are, so a collector can filter on them.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# The attributes every LogRecord has; anything else on a record came from `extra=` and is kept.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName",
                                                                                   "color_message"}


class JsonLines(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                document[name] = value
        return json.dumps(document, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_handler(log_format: str, *, stamp: bool = True) -> logging.Handler:
    """A stderr handler in the chosen format ('json' or 'text'; text without its own time stamp under journald)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT if stamp else "%(levelname)s %(name)s: %(message)s"))
    return handler


def json_dict_config(level: str, loggers: tuple[str, ...] = ()) -> dict[str, Any]:
    """A logging.config.dictConfig document: the root and the named loggers as JSON lines on stderr."""
    named = {name: {"handlers": ["json"], "level": level.upper(), "propagate": False} for name in loggers}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLines}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["json"], "level": level.upper()},
        "loggers": named,
    }

"""The daemon's logs: human lines on a terminal, JSON lines otherwise (`--log-format`).

A JSON line carries the time (ISO 8601, UTC), the level, the logger, the message, and, when
the record has them, the flow, the entity key and the OpenTelemetry trace and span ids of
the span in progress, so that a log search and a trace view meet. orjson writes the lines:
log records hold arbitrary values (exceptions, paths, Decimals), which msgspec's typed
encoders are not made for. Nothing here formats a secret: they are `Secret` objects whose
repr is redacted, and configuration errors never carry values.
"""

from __future__ import annotations

import datetime
import logging
import sys
from typing import IO, Literal

import orjson
from opentelemetry import trace

__all__ = ["JsonFormatter", "configure_logging"]

_HUMAN = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: attributes a caller may pass with `extra=` that a JSON line carries as fields
_CONTEXT = ("flow", "entity", "kind", "system", "poller")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, context and trace ids."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, object] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            line["trace_id"] = format(span.trace_id, "032x")
            line["span_id"] = format(span.span_id, "016x")
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(
    *,
    level: str = "INFO",
    format: Literal["auto", "human", "json"] = "auto",
    stream: IO[str] | None = None,
) -> None:
    """Send the root logger's records to `stream` (stderr) as human or JSON lines.

    `auto` is human on a terminal and JSON otherwise (a service manager's journal, a file).
    """
    out = stream if stream is not None else sys.stderr
    json_lines = format == "json" or (format == "auto" and not out.isatty())
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(_HUMAN))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)

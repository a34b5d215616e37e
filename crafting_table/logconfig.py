"""Logging for the service: plain text or one JSON object per line.

The application log and the access log (logger ``crafting_table.access``)
go to separate streams: the application log to stderr, the access log to
stdout, so either can be collected or silenced on its own.

In JSON every record is one line holding its time, level, logger and
message, the fields given with ``extra=``, and its traceback if any. Lines
about a job carry ``job_id`` (and ``project``) as fields of their own:
given with ``extra=``, or read from the house form of such a line,
``logger.info("job %s (%s) ...", job_id, project, ...)``, so that every
existing line about a job can be selected by field without being edited.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

_JOB = "job %s"
_JOB_AND_PROJECT = "job %s (%s)"
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one line of JSON."""
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(job_fields(record))
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def job_fields(record: logging.LogRecord) -> dict[str, str]:
    """``job_id`` and ``project`` read from a line of the house form, if it is one.

    The form is a message starting ``job %s (%s)`` (or ``job %s``) whose
    first arguments are the job id and the project name.
    """
    args = record.args
    if not isinstance(record.msg, str) or not isinstance(args, tuple) or not args:
        return {}
    if record.msg.startswith(_JOB_AND_PROJECT) and len(args) >= 2:
        return {"job_id": str(args[0]), "project": str(args[1])}
    if record.msg.startswith(_JOB):
        return {"job_id": str(args[0])}
    return {}


def configure(
    level: str = "INFO",
    fmt: str = "text",
    app_stream: TextIO | None = None,
    access_stream: TextIO | None = None,
) -> None:
    """Install handlers on the root and access loggers (replacing old ones)."""
    formatter: logging.Formatter
    if fmt == "json":
        formatter = JsonFormatter()
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")

    app_handler = logging.StreamHandler(app_stream or sys.stderr)
    app_handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [app_handler]
    root.setLevel(level.upper())

    access_handler = logging.StreamHandler(access_stream or sys.stdout)
    access_handler.setFormatter(
        formatter if fmt == "json" else logging.Formatter("%(asctime)s %(message)s")
    )
    access = logging.getLogger("crafting_table.access")
    access.handlers[:] = [access_handler]
    access.propagate = False

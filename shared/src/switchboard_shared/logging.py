"""Structured JSON logs that carry service, task id and correlation id."""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, merge_contextvars

_SHARED_PROCESSORS: list[structlog.typing.Processor] = [
    merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


# Celery attaches the task's arguments and return value to its "received"/"succeeded" lines:
# whole event envelopes, with customers' e-mail addresses and phone numbers in them.
_TASK_PAYLOAD_KEYS = ("args", "kwargs", "return_value")


def drop_task_payloads(
    _logger: object, _method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """Keep Celery's task log context (id, name, runtime) but not the payloads."""
    data = event_dict.get("data")
    if isinstance(data, dict) and any(key in data for key in _TASK_PAYLOAD_KEYS):
        event_dict["data"] = {k: v for k, v in data.items() if k not in _TASK_PAYLOAD_KEYS}
    return event_dict


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*_SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED_PROCESSORS, structlog.stdlib.ExtraAdder(), drop_task_payloads],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quiet = logging.NOTSET if root.level <= logging.DEBUG else max(logging.WARNING, root.level)
    for name in (*CHATTY_CLIENT_LOGGERS, TASK_RECEIPT_LOGGER):
        logging.getLogger(name).setLevel(quiet)
    bind_contextvars(service=service)


# Provider SDKs and HTTP clients log every request at INFO (Twilio's with the message body and
# phone numbers): a line or two per call is noise at best, personal data at worst, and cost a
# twentieth of the payments worker's CPU. They speak at WARNING and up; DEBUG is not changed.
CHATTY_CLIENT_LOGGERS = ("stripe", "twilio", "httpx", "httpcore", "urllib3", "botocore", "boto3")

# Celery's "Task … received" line, written by the worker before it hands each task to the pool:
# on a worker idle between tasks, formatting and writing it held every task back by about
# 0.4 ms. The task ledger and Flower keep every receipt (the task-received event), and each
# task's "succeeded"/"failed" line stays. DEBUG shows it again.
TASK_RECEIPT_LOGGER = "celery.worker.strategy"


def bind_task(service: str, task_id: str, task_name: str, correlation_id: str | None) -> None:
    clear_contextvars()
    bind_contextvars(
        service=service, task_id=task_id, task=task_name, correlation_id=correlation_id
    )

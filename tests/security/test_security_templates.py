"""Issue 17, item 1: inline email templates must not run code in the worker.

The attack: `POST /api/v1/emails/bulk` with `"text": "x {{ cycler.__init__.__globals__.os.getcwd()
}} y"` rendered `os.getcwd()` in the worker; the same reached `os.environ` and `os.popen`. Each
test sends the attack through email's real code path (the kit's unit of work on SQLite and
PostgreSQL, the real SMTP adapter, a real aiosmtpd server, and once a real worker) and checks
that the template is refused, its recipients fail with the reason, nothing is retried and no
secret leaves the process.
"""

from __future__ import annotations

import os
import resource
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from jinja2 import DictLoader
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from switchboard_email import bulk, campaigns
from switchboard_email.bootstrap import bootstrap
from switchboard_email.config import EmailSettings
from switchboard_email.handlers import registry
from switchboard_email.models import Base, SentEmail
from switchboard_email.rendering import Templates
from switchboard_shared.commands import send_command
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.email import SendBulkEmail
from switchboard_shared.failures import FailureClass, ValidationFailure, classify, policies
from switchboard_shared.messagebus import handle_command
from switchboard_shared.records import OutboxMessage
from switchboard_shared.testsupport import (
    WorkerProcess,
    database_sessions,
    pg_database,
    redis_database,
)
from switchboard_shared.uow import SqlAlchemyUnitOfWork

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "email" / "tests"))
from smtp_server import RecordingHandler, smtp_server

pytestmark = pytest.mark.integration

CANARY_VAR = "SWITCHBOARD_SECURITY_CANARY"
CANARY = f"canary-{secrets.token_hex(8)}"
GLOBALS = "cycler.__init__.__globals__"
ATTACKS = {
    "getcwd": f"x {{{{ {GLOBALS}.os.getcwd() }}}} y",
    "environ": f"x {{{{ {GLOBALS}.os.environ['{CANARY_VAR}'] }}}} y",
    "popen": f"x {{{{ joiner.__init__.__globals__.os.popen('echo ${CANARY_VAR}').read() }}}} y",
    "subclasses": "x {{ ''.__class__.__mro__[1].__subclasses__() }} y",
    "lipsum": f"x {{{{ lipsum.__globals__['os'].environ['{CANARY_VAR}'] }}}} y",
    "attr-filter": (
        f"x {{{{ (cycler | attr('__init__') | attr('__globals__'))['os']"
        f".environ['{CANARY_VAR}'] }}}} y"
    ),
    "format": "x {{ '{0.__init__.__globals__[os].environ}'.format(cycler) }} y",
}


def leaked(text: str) -> list[str]:
    """What of the worker's secrets (or its Python internals) `text` gives away."""
    signs = [CANARY, os.getcwd(), "<class '", "environ("]
    return [sign for sign in signs if sign in text]


@pytest.fixture(autouse=True)
def canary(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret in the worker's environment, as a real deploy has (database password, keys)."""
    monkeypatch.setenv(CANARY_VAR, CANARY)


@pytest.fixture
def smtp() -> Iterator[tuple[RecordingHandler, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def db(database_url: str) -> Iterator[sessionmaker[Session]]:
    with database_sessions(database_url, Base.metadata) as sessions:
        yield sessions


@pytest.fixture
def wired(smtp: tuple[RecordingHandler, int]) -> Iterator[RecordingHandler]:
    """Email's registry with the real SMTP adapter pointed at aiosmtpd; restored afterwards."""
    handler, port = smtp
    saved = dict(registry.dependencies)
    settings = EmailSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_timeout=5, bulk_lanes=1)
    bootstrap(registry, settings)
    try:
        yield handler
    finally:
        registry.dependencies.clear()
        registry.dependencies.update(saved)


def uow(db: sessionmaker[Session], correlation_id: str = "bulk-attack") -> SqlAlchemyUnitOfWork:
    context = MessageContext.new(correlation_id, causation_id="task-1")
    return SqlAlchemyUnitOfWork(db, service="email", context=context)


def run_campaign(db: sessionmaker[Session], command: SendBulkEmail) -> list[bulk.Slice]:
    """The bulk task's steps, in process: open the campaign, then slices until it finishes."""
    with uow(db) as work:
        registry.call(campaigns.open_campaign, command, work, campaign_id="c1")
    steps: list[bulk.Slice] = []
    for _ in range(10):
        with uow(db) as work:
            steps.append(registry.call(bulk.send_slice, "c1", work, lane=0))
        if steps[-1].lane_done:
            break
    return steps


def outbox(db: sessionmaker[Session]) -> list[tuple[str, dict[str, Any]]]:
    with db() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)).all()
        return [(row.event_type, row.envelope["data"]) for row in rows]


def campaign(**body: str) -> SendBulkEmail:
    recipients = [{"to": f"reader{i}@example.com", "context": {"name": f"R{i}"}} for i in range(3)]
    return SendBulkEmail(subject=body.pop("subject", "News"), recipients=recipients, **body)  # type: ignore[arg-type]


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_bulk_template_reaching_for_os_fails_every_recipient_and_sends_nothing(
    db: sessionmaker[Session], wired: RecordingHandler, attack: str
) -> None:
    steps = run_campaign(db, campaign(text=ATTACKS[attack]))

    assert steps[-1].finished, "the campaign finishes: nothing is left to retry"
    assert wired.messages == [], "no mail left the worker"
    with db() as session:
        result = campaigns.campaign_result(session, "c1")
    assert result["counts"] == {"failed": 3}
    for recipient in result["recipients"]:
        assert "refused by the template sandbox" in recipient["detail"], recipient
        assert "unsafe" in recipient["detail"]
        assert leaked(recipient["detail"]) == []
    events = outbox(db)
    failed = [data for kind, data in events if kind == "email-failed"]
    assert len(failed) == 3 and all("sandbox" in data["reason"] for data in failed)
    assert leaked(repr(events)) == []
    [completed] = [data for kind, data in events if kind == "email-bulk-completed"]
    assert (completed["sent"], completed["failed"]) == (0, 3)


@pytest.mark.parametrize("part", ["subject", "html"])
def test_the_subject_and_html_are_sandboxed_too(
    db: sessionmaker[Session], wired: RecordingHandler, part: str
) -> None:
    body = {"text": "plain", part: ATTACKS["environ"]}
    run_campaign(db, campaign(**body))

    assert wired.messages == []
    with db() as session:
        result = campaigns.campaign_result(session, "c1")
    assert result["counts"] == {"failed": 3}
    assert all("sandbox" in r["detail"] for r in result["recipients"])
    assert leaked(repr(outbox(db))) == []


def test_a_bulk_template_that_does_not_compile_fails_its_recipients_and_the_campaign_ends(
    db: sessionmaker[Session], wired: RecordingHandler
) -> None:
    steps = run_campaign(db, campaign(text=f"x {{{{ {GLOBALS}.os.getcwd( }}}} y"))

    assert steps[-1].finished
    assert wired.messages == []
    with db() as session:
        result = campaigns.campaign_result(session, "c1")
    assert result["counts"] == {"failed": 3}
    assert all("cannot be compiled" in r["detail"] for r in result["recipients"])


def test_a_benign_bulk_template_is_still_personalised(
    db: sessionmaker[Session], wired: RecordingHandler
) -> None:
    run_campaign(db, campaign(subject="News for {{ name }}", text="Hello {{ name | upper }}"))

    assert sorted(str(m["Subject"]) for m in wired.messages) == [
        "News for R0",
        "News for R1",
        "News for R2",
    ]
    assert "Hello R0" in wired.messages[0].get_content()


def send(db: sessionmaker[Session], payload: dict[str, Any]) -> Any:
    return handle_command(
        "email.send",
        payload,
        "task-1",
        MessageContext.new("ord_1", causation_id="task-1"),
        registry,
        lambda context: SqlAlchemyUnitOfWork(db, service="email", context=context),
    )


def test_a_single_send_never_evaluates_its_inline_text(
    db: sessionmaker[Session], wired: RecordingHandler
) -> None:
    attack = ATTACKS["environ"]
    result = send(db, {"to": "ada@example.com", "subject": attack, "text": attack, "html": attack})

    assert result["status"] == "sent"
    [message] = wired.messages
    assert leaked(message.as_string()) == []
    assert f"{GLOBALS}.os.environ" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_a_hostile_named_template_on_the_single_send_path_is_refused_and_never_retried(
    db: sessionmaker[Session], wired: RecordingHandler
) -> None:
    post = registry.dependencies["post"]
    post.templates = Templates(
        DictLoader({"hostile/subject.txt": "Hi", "hostile/body.txt": ATTACKS["popen"]})
    )
    with pytest.raises(ValidationFailure, match="refused by the template sandbox") as info:
        send(db, {"to": "ada@example.com", "template": "hostile"})

    assert classify(info.value) is FailureClass.VALIDATION
    assert not policies()[FailureClass.VALIDATION].retries, "dead-lettered on the first failure"
    assert leaked(str(info.value)) == []
    assert wired.messages == []
    with db() as session:
        assert session.scalars(select(SentEmail)).all() == []


@pytest.mark.e2e
def test_a_bulk_request_to_a_real_worker_on_postgresql_fails_the_recipient_without_retry(
    tmp_path: Path, smtp: tuple[RecordingHandler, int]
) -> None:
    handler, port = smtp
    with redis_database() as broker, pg_database() as database:
        env = {
            "SWITCHBOARD_BROKER_URL": broker,
            "SWITCHBOARD_DATA_DIR": str(tmp_path),
            "SWITCHBOARD_RETRY_BASE_SECONDS": "1",
            "SWITCHBOARD_LOG_JSON": "false",
            "EMAIL_DATABASE_URL": database,
            "EMAIL_SMTP_PORT": str(port),
            "EMAIL_RATE_LIMIT": "off",
            CANARY_VAR: CANARY,
        }
        worker = WorkerProcess("switchboard_email.app", env, tmp_path / "email.log").start(90)
        try:
            app = Celery("attacker", broker=broker, backend=broker, set_as_current=False)
            app.conf.update(task_serializer="json", accept_content=["json"])
            task_id = send_command(app, campaign(text=ATTACKS["environ"]))
            result = app.AsyncResult(task_id).get(timeout=60)
        finally:
            worker.stop()

    assert result["counts"] == {"failed": 3}
    assert all("refused by the template sandbox" in r["detail"] for r in result["recipients"])
    assert leaked(repr(result)) == []
    assert handler.messages == []
    log = worker.output()
    assert "Retry in" not in log and "dead-lettered" not in log
    assert CANARY not in log


# -- Follow-up: the sandbox also bounds memory, CPU and output, not only attribute access.
#
# Jinja reads `9**9**9` as `(9**9)**9` (a 78-digit number): the bomb is `9**(9**9)`.
MEMORY_BOMBS = {
    "string-repeat": "x {{ 'a' * 10**10 }} y",
    "list-repeat": "x {{ [0] * 10**9 }} y",
    "power": "x {{ 9**(9**9) }} y",
    "range": "x {% for i in range(10**9) %}{% endfor %} y",
    "doubling": (
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"
    ),
    "center": "x {{ 'a' | center(10**10) }} y",
    "replace": "{% set s = 'a' * 100000 %}{{ s | replace('a', s) }}",
    "format-width": "x {{ '{:>10000000000}'.format('a') }} y",
    "printf-width": "x {{ '%10000000000s' % 'a' }} y",
    "shared-references": (
        "{% set s = 'a' * 100000 %}{{ range(100000) | map(attribute='x', default=s) | list }}"
    ),
}
CPU_BOMBS = {
    "nested-loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    ),
    "exponential-macro": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}"
    ),
}
OUTPUT_BOMBS = {
    "loop-output": "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}",
    "captured-block": (
        "{% set ns = namespace(s='x' * 50000) %}{% for i in range(30) %}"
        "{% set twice %}{{ ns.s }}{{ ns.s }}{% endset %}{% set ns.s = twice %}{% endfor %}"
    ),
}
CEILING_BYTES = 1024**3
ARTICLE = "<p>" + ("y" * 74 + "\n") * 4000 + "</p>"  # 300 KB, in lines SMTP accepts


def address_space() -> int:
    """This process's virtual memory size, in bytes."""
    status = Path("/proc/self/status").read_text()
    [kilobytes] = [line.split()[1] for line in status.splitlines() if line.startswith("VmSize:")]
    return int(kilobytes) * 1024


@pytest.fixture
def memory_ceiling() -> Iterator[None]:
    """1 GiB more address space at most while the attack runs: an allocation of gigabytes (what
    these templates did before the limits) fails here with MemoryError instead of exhausting
    the machine."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    ceiling = address_space() + CEILING_BYTES
    resource.setrlimit(resource.RLIMIT_AS, (ceiling if hard < 0 else min(ceiling, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def assert_refused_and_final(db: sessionmaker[Session], steps: list[bulk.Slice], why: str) -> None:
    """Every recipient failed with the sandbox's reason; the campaign ended, nothing retries."""
    assert steps[-1].finished, "the campaign finishes: nothing is left to retry"
    with db() as session:
        result = campaigns.campaign_result(session, "c1")
    assert result["counts"] == {"failed": 3}
    for recipient in result["recipients"]:
        assert "refused by the template sandbox" in recipient["detail"], recipient
        assert why in recipient["detail"], recipient
    failed = [data for kind, data in outbox(db) if kind == "email-failed"]
    assert len(failed) == 3 and all(why in data["reason"] for data in failed)


@pytest.mark.parametrize("bomb", list(MEMORY_BOMBS))
def test_a_bulk_template_that_would_exhaust_memory_fails_every_recipient_at_once(
    db: sessionmaker[Session], wired: RecordingHandler, memory_ceiling: None, bomb: str
) -> None:
    started = time.monotonic()
    steps = run_campaign(db, campaign(text=MEMORY_BOMBS[bomb]))

    assert_refused_and_final(db, steps, "limit is")
    assert wired.messages == []
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("bomb", list(CPU_BOMBS))
def test_a_bulk_template_that_would_spin_forever_is_stopped_within_its_cpu_allowance(
    db: sessionmaker[Session], wired: RecordingHandler, bomb: str
) -> None:
    started = time.monotonic()
    steps = run_campaign(db, campaign(text=CPU_BOMBS[bomb]))

    assert_refused_and_final(db, steps, "s of CPU")
    assert wired.messages == []
    assert time.monotonic() - started < 60, "about one CPU second per recipient"


@pytest.mark.parametrize("bomb", list(OUTPUT_BOMBS))
def test_a_bulk_template_whose_output_passes_one_mib_fails_every_recipient(
    db: sessionmaker[Session], wired: RecordingHandler, memory_ceiling: None, bomb: str
) -> None:
    steps = run_campaign(db, campaign(html=OUTPUT_BOMBS[bomb], text="plain"))

    assert_refused_and_final(db, steps, "the limit is 1048576 characters")
    assert wired.messages == []


@pytest.mark.parametrize("bomb", [MEMORY_BOMBS["string-repeat"], CPU_BOMBS["nested-loops"]])
def test_a_resource_bomb_on_the_single_send_path_is_refused_and_never_retried(
    db: sessionmaker[Session], wired: RecordingHandler, memory_ceiling: None, bomb: str
) -> None:
    post = registry.dependencies["post"]
    post.templates = Templates(DictLoader({"bomb/subject.txt": "Hi", "bomb/body.txt": bomb}))
    with pytest.raises(ValidationFailure, match="refused by the template sandbox") as info:
        send(db, {"to": "ada@example.com", "template": "bomb"})

    assert classify(info.value) is FailureClass.VALIDATION
    assert not policies()[FailureClass.VALIDATION].retries
    assert wired.messages == []


def test_a_large_honest_template_still_renders_within_the_limits(
    db: sessionmaker[Session], wired: RecordingHandler
) -> None:
    """Order tables, macros, filters, and a 300 KB body passed in the context all pass."""
    lines = [{"sku": f"sku-{n}", "quantity": n % 7 + 1, "cents": 1250 + n} for n in range(500)]
    html = (
        "{% macro row(line) %}<tr><td>{{ line.sku | upper }}</td>"
        "<td>{{ '%.2f' | format(line.cents * line.quantity / 100) }}</td></tr>\n{% endmacro %}"
        "<table>{% for line in lines %}{{ row(line) }}{% endfor %}</table>"
        "{{ lines | sum(attribute='quantity') }} {{ article | safe }}"
    )
    command = SendBulkEmail(
        subject="{{ name ~ ', your ' ~ lines | length ~ ' lines' }}",
        html=html,
        text="{{ '{:,}'.format(123456789) }} {{ 'x'.center(30) }}",
        common_context={"lines": lines, "article": ARTICLE},
        recipients=[{"to": "reader@example.com", "context": {"name": "Ada"}}],
    )
    run_campaign(db, command)

    [message] = wired.messages
    assert str(message["Subject"]) == "Ada, your 500 lines"
    body = message.get_body(("html",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert body.count("<tr>") == 500 and ARTICLE in body


@pytest.mark.e2e
def test_a_cpu_bomb_sent_to_a_real_worker_fails_without_retry_and_the_worker_goes_on(
    tmp_path: Path, smtp: tuple[RecordingHandler, int]
) -> None:
    handler, port = smtp
    with redis_database() as broker, pg_database() as database:
        env = {
            "SWITCHBOARD_BROKER_URL": broker,
            "SWITCHBOARD_DATA_DIR": str(tmp_path),
            "SWITCHBOARD_RETRY_BASE_SECONDS": "1",
            "SWITCHBOARD_LOG_JSON": "false",
            "EMAIL_DATABASE_URL": database,
            "EMAIL_SMTP_PORT": str(port),
            "EMAIL_RATE_LIMIT": "off",
        }
        worker = WorkerProcess("switchboard_email.app", env, tmp_path / "email.log").start(90)
        try:
            app = Celery("attacker", broker=broker, backend=broker, set_as_current=False)
            app.conf.update(task_serializer="json", accept_content=["json"])
            bomb = send_command(app, campaign(text=CPU_BOMBS["nested-loops"]))
            refused = app.AsyncResult(bomb).get(timeout=60)
            honest = send_command(app, campaign(subject="After", text="Hello {{ name }}"))
            delivered = app.AsyncResult(honest).get(timeout=60)
        finally:
            worker.stop()

    assert refused["counts"] == {"failed": 3}
    assert all("of CPU" in r["detail"] for r in refused["recipients"])
    assert delivered["counts"] == {"sent": 3}
    assert sorted(str(m["Subject"]) for m in handler.messages) == ["After"] * 3
    assert "Retry in" not in worker.output()

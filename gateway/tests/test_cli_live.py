"""`switchboard` against a running gateway (uvicorn), the ledger and a real orders worker on
Redis: every command, its `--json`, `watch` following a task whose progress rises, exit codes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from cli_support import ADMIN, ORDERS_QUEUES, READER, LiveGateway, live_gateway, run_cli
from switchboard_shared.testsupport import free_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with live_gateway(tmp_path_factory.mktemp("cli")) as gateway:
        yield gateway


def submit(live: LiveGateway, **args: object) -> str:
    run = live.run("submit", "orders.diagnose", "--args", json.dumps(args), "--json")
    assert run.code == 0, run.err
    return str(run.json()["task_id"])


def test_watch_follows_rising_progress_to_success(live: LiveGateway) -> None:
    task_id = submit(live, seconds=5, steps=10, echo={"from": "cli"})

    run = live.run("watch", task_id, "--json", "--interval", "0.1")

    snapshots = run.lines()
    progress = [s["progress"] for s in snapshots if s["state"] == "running"]
    assert run.code == 0, run.err
    assert snapshots[-1]["state"] == "succeeded"
    assert snapshots[-1]["result"]["echo"] == {"from": "cli"}
    assert len(set(progress)) >= 2 and progress == sorted(progress), progress
    assert any(0 < p < 100 for p in progress)


def test_watch_draws_a_progress_bar_in_a_terminal(live: LiveGateway) -> None:
    task_id = submit(live, seconds=1.5, steps=3)

    done = live.command("watch", task_id, TTY_INTERACTIVE="1", COLUMNS="120")

    assert done.returncode == 0, done.stderr
    assert "━" in done.stdout and "100%" in done.stdout
    assert f"task {task_id} succeeded" in done.stdout


def test_submit_and_watch_a_failing_task_exits_1_with_its_classification(
    live: LiveGateway,
) -> None:
    run = live.run("submit", "orders.diagnose", "--args", '{"fail": "provider-4xx"}', "--watch")

    assert run.code == 1
    assert "dead_lettered" in run.out and "provider-4xx" in run.out


def test_tasks_list_show_and_their_json(live: LiveGateway) -> None:
    task_id = submit(live, steps=2)
    wait_until(lambda: live.task(task_id)["state"] == "succeeded", 40, 0.2)

    listed = live.run("tasks", "list", "--name", "orders.diagnose", "--since", "10m", "--json")
    table = live.run("tasks", "list", "--state", "succeeded", "--service", "orders")
    shown = live.run("tasks", "show", task_id, "--json")
    detail = live.run("tasks", "show", task_id)
    counted = live.run("tasks", "count", "--name", "orders.diagnose", "--json")
    counted_text = live.run("tasks", "count", "--state", "succeeded")

    assert listed.code == table.code == shown.code == detail.code == 0
    assert task_id in [t["task_id"] for t in listed.json()["items"]]
    assert listed.json()["total"] >= 1
    assert task_id in table.out and "succeeded" in table.out
    assert shown.json()["state"] == "succeeded" and shown.json()["name"] == "orders.diagnose"
    assert "orders.normal" in detail.out and "succeeded" in detail.out
    assert counted.json()["by_state"]["succeeded"] >= 1 and counted.json()["count"] >= 1
    assert counted_text.code == 0 and "task(s)" in counted_text.out


def test_cancel_needs_an_admin_key_and_terminates_a_running_task(live: LiveGateway) -> None:
    task_id = submit(live, seconds=60, steps=60)
    wait_until(lambda: live.task(task_id)["state"] == "running", 40, 0.2)

    refused = live.run("tasks", "cancel", task_id, "--terminate", key=READER)
    accepted = live.run("tasks", "cancel", task_id, "--terminate", "--json")
    watched = live.run("watch", task_id, "--timeout", "60")

    assert refused.code == 4 and "403" in refused.err
    assert accepted.code == 0 and accepted.json()["terminate"] is True
    assert watched.code == 1 and "revoked" in watched.out


def test_exit_codes_for_scripts(live: LiveGateway) -> None:
    nowhere = run_cli(
        ["--url", f"http://127.0.0.1:{free_port()}", "--api-key", ADMIN, "tasks", "list"]
    )
    no_key = live.run("tasks", "list", key=None)
    wrong_key = live.run("tasks", "list", key="not-a-key")
    unknown_task = live.run("tasks", "show", "no-such-task")
    bad_name = live.run("submit", "orders.nothing", "--args", "{}")
    bad_args = live.run("submit", "orders.diagnose", "--args", '{"steps": 0}')
    not_json = live.run("submit", "orders.diagnose", "--args", "{steps")
    bad_state = live.run("tasks", "list", "--state", "sleeping")

    assert nowhere.code == 3 and "unreachable" in nowhere.err
    assert no_key.code == wrong_key.code == 4
    assert unknown_task.code == 1 and "404" in unknown_task.err
    assert bad_name.code == 2 and "name" in bad_name.err
    assert bad_args.code == 2 and "args.steps" in bad_args.err
    assert not_json.code == bad_state.code == 2


def test_help_documents_the_exit_codes(live: LiveGateway) -> None:
    done = live.command("--help", COLUMNS="120")

    assert done.returncode == 0
    for line in ("0  ok", "3  gateway unreachable", "4  missing, wrong or insufficient API key"):
        assert line in done.stdout


def healthy(live: LiveGateway) -> bool:
    return bool(live.run("status", "--json").json()["healthy"])


def test_status_services_workers_queues_and_their_json(live: LiveGateway) -> None:
    wait_until(lambda: healthy(live), 60, 0.5)  # the first liveness probes were consumed

    status, status_json = live.run("status", "--hours", "1"), live.run("status", "--json")
    services = live.run("services", "--json")
    workers, workers_table = live.run("workers", "--json"), live.run("workers")
    queues, queues_table = live.run("queues", "--json"), live.run("queues")

    assert status.code == status_json.code == 0, status.out
    assert "Platform: ready" in status.out and "orders" in status.out
    assert [s["name"] for s in status_json.json()["services"]] == ["orders"]
    [orders] = services.json()["items"]
    assert orders["workers_online"] >= 1 and orders["flower_url"]
    [worker] = [w for w in workers.json()["items"] if w["online"]]
    assert worker["service"] == "orders" and worker["hostname"] in workers_table.out
    assert [q["name"] for q in queues.json()["items"]] == ORDERS_QUEUES
    assert "orders.critical" in queues_table.out


def test_failures_trends_and_a_dead_letter_replayed_to_success(live: LiveGateway) -> None:
    blocker = f"cli-block-{uuid.uuid4().hex}"
    redis.Redis.from_url(live.redis_url).set(blocker, 1)
    args = json.dumps({"fail_while_key": blocker})
    failed = live.run("submit", "orders.diagnose", "--args", args, "--watch", "--json")
    accepted, *_, final = failed.lines()
    assert failed.code == 1 and final["state"] == "dead_lettered"

    failures, failures_table = live.run("failures", "--json"), live.run("failures", "--hours", "1")
    trends = live.run("trends", "--hours", "1", "--json")
    trends_table = live.run("trends", "--hours", "2", "--bucket", "30m")
    letters = live.run("dlq", "list", "--json").json()["items"]
    [letter] = [x for x in letters if x["task_id"] == accepted["task_id"]]
    shown, shown_table = (
        live.run("dlq", "show", letter["id"], "--json"),
        live.run("dlq", "show", letter["id"]),
    )

    assert failures.json()["by_classification"]["validation"] >= 1
    assert "validation" in failures_table.out and "orders.diagnose" in failures_table.out
    assert sum(b["total"] for b in trends.json()["trends"]["items"]) >= 1
    assert "orders.diagnose" in [m["name"] for m in trends.json()["metrics"]["items"]]
    assert "orders.diagnose" in trends_table.out
    assert letter["id"].startswith("orders:") and letter["classification"] == "validation"
    assert shown.json()["message"] and "traceback" in shown_table.out

    redis.Redis.from_url(live.redis_url).delete(blocker)
    replayed = live.run("dlq", "replay", letter["id"], "--watch")
    assert replayed.code == 0 and "succeeded" in replayed.out, replayed.out + replayed.err


def test_deleting_a_dead_letter_asks_first(live: LiveGateway) -> None:
    failed = live.run("submit", "orders.diagnose", "--args", '{"fail": "validation"}', "--json")
    task_id = failed.json()["task_id"]
    wait_until(lambda: live.task(task_id)["state"] == "dead_lettered", 40, 0.2)
    letter_id = live.task(task_id)["dead_letter_id"]
    [letter] = [
        x for x in live.run("dlq", "list", "--json").json()["items"] if x["task_id"] == task_id
    ]

    declined = live.run("dlq", "delete", letter["id"], stdin="n\n")
    kept = live.run("dlq", "show", letter["id"])
    as_reader = live.run("dlq", "delete", letter["id"], "--yes", key=READER)
    deleted = live.run("dlq", "delete", letter["id"], "--yes")

    assert letter_id and letter["id"].endswith(letter_id)
    assert declined.code == 1 and kept.code == 0
    assert as_reader.code == 4
    assert deleted.code == 0 and live.run("dlq", "show", letter["id"]).code == 1


def test_report_writes_html_markdown_and_json(live: LiveGateway, tmp_path: Path) -> None:
    submit(live, steps=1)
    wait_until(lambda: "orders.diagnose" in live.run("trends", "--json").out, 30, 0.5)
    outputs = {suffix: tmp_path / f"ops.{suffix}" for suffix in ("html", "md", "json")}

    runs = [live.run("report", "--hours", "1", "--output", str(path)) for path in outputs.values()]
    wrong = live.run("report", "--output", str(tmp_path / "ops.txt"))

    assert [run.code for run in runs] == [0, 0, 0], runs
    html, markdown = outputs["html"].read_text(), outputs["md"].read_text()
    figures = json.loads(outputs["json"].read_text())
    assert html.startswith("<!doctype html>") and "<svg" in html and "orders.diagnose" in html
    assert "| orders.diagnose | orders |" in markdown and "## Failures" in markdown
    assert figures["totals"]["tasks"] >= 1 and figures["services"][0]["name"] == "orders"
    assert wrong.code == 2 and not (tmp_path / "ops.txt").exists()


def test_purge_asks_first_and_needs_an_admin_key(live: LiveGateway) -> None:
    client = Celery(broker=live.env["SWITCHBOARD_BROKER_URL"], set_as_current=False)
    for _ in range(3):  # nobody consumes orders.critical in this platform
        client.send_task("orders.create", args=[{}], queue="orders.critical")
    client.close()

    before = {q["name"]: q["depth"] for q in live.run("queues", "--json").json()["items"]}
    declined = live.run("purge", "--queue", "orders.critical", stdin="n\n")
    as_reader = live.run("purge", "--queue", "orders.critical", "--yes", key=READER)
    unknown = live.run("purge", "--queue", "nobody.queue", "--yes")
    purged = live.run("purge", "--queue", "orders.critical", "--yes", "--json")
    after = {q["name"]: q["depth"] for q in live.run("queues", "--json").json()["items"]}

    assert declined.code == 1 and "nothing changed" in declined.out
    assert as_reader.code == 4
    assert unknown.code == 1
    assert purged.code == 0 and purged.json()["purged"] >= 3
    assert before["orders.critical"] >= 3
    assert after["orders.critical"] < before["orders.critical"]  # a liveness probe may land anew

"""`switchboard` against a running gateway (uvicorn), the ledger and a real orders worker on
Redis: every command, its `--json`, `watch` following a task whose progress rises, exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cli_support import ADMIN, READER, LiveGateway, live_gateway, run_cli
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

    assert listed.code == table.code == shown.code == detail.code == 0
    assert task_id in [t["task_id"] for t in listed.json()["items"]]
    assert listed.json()["total"] >= 1
    assert task_id in table.out and "succeeded" in table.out
    assert shown.json()["state"] == "succeeded" and shown.json()["name"] == "orders.diagnose"
    assert "orders.normal" in detail.out and "succeeded" in detail.out


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

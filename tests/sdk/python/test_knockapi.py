"""The official `knockapi` Python client, as published, against Herald.

Needs KNOCK_BASE_URL and KNOCK_API_KEY (tests/sdk/with-server.sh sets them).
"""

import time
import uuid

import knockapi
import pytest
from knockapi import Knock


@pytest.fixture(scope="module")
def client() -> Knock:
    return Knock()  # reads KNOCK_API_KEY and KNOCK_BASE_URL, as users do


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def eventually(what, check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_trigger_then_cancel_one_recipient(client: Knock) -> None:
    kept, cancelled, key = unique("kept"), unique("cancelled"), unique("invite")
    response = client.workflows.trigger(
        "reminder-2s",
        recipients=[kept, {"id": cancelled, "name": "Cancelled"}],
        cancellation_key=key,
        data={"what": "python"},
    )
    assert uuid.UUID(response.workflow_run_id).version == 4
    assert client.workflows.cancel("reminder-2s", cancellation_key=key, recipients=[cancelled]) is None

    messages = eventually("the reminder", lambda: list(client.users.list_messages(kept)))
    assert len(messages) == 1
    assert messages[0].source.workflow_run_id == response.workflow_run_id
    time.sleep(0.8)
    assert list(client.users.list_messages(cancelled)) == []


def test_cancel_with_no_runs_is_accepted_and_does_not_overtake(client: Knock) -> None:
    user, key = unique("user"), unique("early")
    assert client.workflows.cancel("welcome-now", cancellation_key=key) is None
    client.workflows.trigger("welcome-now", recipients=[{"id": user, "name": "Py"}], cancellation_key=key)
    messages = eventually("the welcome", lambda: list(client.users.list_messages(user)))
    assert len(messages) == 1


def test_errors_are_typed(client: Knock) -> None:
    with pytest.raises(knockapi.NotFoundError):
        client.workflows.trigger("no-such-workflow", recipients=["a"])
    with pytest.raises(knockapi.UnprocessableEntityError) as err:
        client.workflows.trigger("welcome-now", recipients=["u"] * 1001)
    assert err.value.body["code"] == "invalid_params"

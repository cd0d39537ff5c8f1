"""The standalone site counts a node healthy only when the answer on its port comes from the node it started."""

from __future__ import annotations

import httpx
import pytest

from unseen.node.standalone import health_conflict

WHERE = "REST port 127.0.0.1:19380"


def _answer(status: int, body: object = None, text: str | None = None) -> httpx.Response:
    if text is not None:
        return httpx.Response(status, text=text)
    return httpx.Response(status, json=body)


def test_the_node_that_was_started_is_accepted() -> None:
    assert health_conflict(_answer(200, {"party_id": 9999, "pid": 41}), 9999, 41, "127.0.0.1", 19380) is None


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            _answer(200, {"party_id": 9999, "pid": 77}),
            f"{WHERE} is answered by another node (party 9999, pid 77), not party 9999's node started as pid 41",
        ),
        (
            _answer(200, {"party_id": 10000, "pid": 41}),
            f"{WHERE} is answered by another node (party 10000, pid 41), not party 9999's node started as pid 41",
        ),
        (
            _answer(200, {"party_id": 9999}),  # a node from before health answers carried the pid
            f"{WHERE} is answered by another node (party 9999, pid None), not party 9999's node started as pid 41",
        ),
        (
            _answer(404, text="<html>not found</html>"),
            f"{WHERE} is answered by something that is not an Unseen node (HTTP 404)",
        ),
        (_answer(200, text="hello"), f"{WHERE} is answered by something that is not an Unseen node (HTTP 200)"),
        (_answer(200, ["a list"]), f"{WHERE} is answered by something that is not an Unseen node (HTTP 200)"),
    ],
)
def test_any_other_answer_names_who_answered(response: httpx.Response, expected: str) -> None:
    assert health_conflict(response, 9999, 41, "127.0.0.1", 19380) == expected

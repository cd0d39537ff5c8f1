"""The identifier grammars: what they accept, what they refuse, and how a refusal reads."""

from __future__ import annotations

import secrets

import pytest

from unseen import ids
from unseen.node.service import new_job_id
from unseen.runtime.parties import Role
from unseen.storage.models import Status

HOSTILE = ["", "/tmp/x", "../../x", "..", ".", "a/b", "a\nb", "a\x00b", "a\rb", "x" * 100_000, " a", "a ", "é"]


def test_the_enums_written_out_are_the_real_ones() -> None:
    assert tuple(r.value for r in Role) == ids.ROLES
    assert tuple(s.value for s in Status) == ids.STATUSES


@pytest.mark.parametrize(
    "job_id", [new_job_id(), "probe" + secrets.token_hex(4), "nosuchjob", "job-1", "j", "a_b", "x" * 64]
)
def test_job_ids_the_node_and_tests_make_are_valid(job_id: str) -> None:
    assert ids.check_job_id(job_id) == job_id


@pytest.mark.parametrize("job_id", [*HOSTILE, "-x", "_x", "x" * 65, "a.b", "a\n"])
def test_hostile_job_ids_are_refused(job_id: str) -> None:
    with pytest.raises(ids.IdentifierError) as caught:
        ids.check_job_id(job_id)
    assert caught.value.field == "job_id"
    message = str(caught.value)
    assert "\n" not in message and "\x00" not in message
    assert len(message) < 400
    assert "e.g. 20260101120000a1b2c3" in message


def test_a_trailing_newline_is_refused_everywhere() -> None:
    """``re.match("...$")`` accepts ``x\\n``; every grammar here must not."""
    for grammar, valid in [
        (ids.JOB_ID, "job1"),
        (ids.COMPONENT, "reader_0"),
        (ids.SLOT, "data"),
        (ids.TAG, "secure_sum/share"),
        (ids.TABLE_NAME, "hostile.twin"),
        (ids.ROLE, "guest"),
        (ids.STATUS, "failed"),
    ]:
        assert grammar.matches(valid), grammar.kind
        assert not grammar.matches(valid + "\n"), grammar.kind
        assert not grammar.matches("\n" + valid), grammar.kind


@pytest.mark.parametrize("name", ["reader_0", "sum_0", "a", "a" * 64])
def test_component_names(name: str) -> None:
    assert ids.check_component(name) == name


@pytest.mark.parametrize("name", [*HOSTILE, "Reader", "0reader", "a-b", "a" * 65])
def test_bad_component_names(name: str) -> None:
    with pytest.raises(ids.IdentifierError, match="reader_0"):
        ids.check_component(name)


@pytest.mark.parametrize("tag", ["probe", "secure_sum/share", "psi/guest_double-3", "train/iter-0/batch-2/loss"])
def test_tags(tag: str) -> None:
    assert ids.check_tag(tag) == tag


@pytest.mark.parametrize(
    "tag", [*(h for h in HOSTILE if h != "a/b"), "a//b", "/a", "a/", ".a", "a/../b", "x" * 257, "/".join(["ab"] * 100)]
)
def test_bad_tags(tag: str) -> None:
    with pytest.raises(ids.IdentifierError, match="tag"):
        ids.check_tag(tag)


def test_table_names() -> None:
    assert ids.check_table_name("experiment.breast_guest") == ("experiment", "breast_guest")
    assert ids.check_table_name("job_20260101120000a1b2c3.psi_0__data") == ("job_20260101120000a1b2c3", "psi_0__data")
    for bad in ["hostile.twin\n", "../../etc.passwd", "a.b.c", "nodot", ".x.y", "a/b.c", "a.-b", "a\x00.b"]:
        with pytest.raises(ids.IdentifierError, match=r"namespace\.name"):
            ids.check_table_name(bad)


def test_job_ids_fit_the_table_namespace_of_their_outputs() -> None:
    longest = "x" * 64
    assert ids.check_table_name(f"job_{longest}.reader_0__data")


@pytest.mark.parametrize("party", [1, 9999, 10000, 2**31 - 1])
def test_party_ids(party: int) -> None:
    assert ids.check_party(party) == party


@pytest.mark.parametrize("party", [0, -1, 2**31, 2**63 - 1, True, "10000", 1.0])
def test_bad_party_ids(party: object) -> None:
    with pytest.raises(ids.IdentifierError, match="party"):
        ids.check_party(party)


def test_roles_and_statuses() -> None:
    assert ids.check_role("arbiter") == "arbiter"
    assert ids.check_status("timeout") == "timeout"
    for bad in ["", "Guest", "guesthost", "guest|host", "bogus"]:
        with pytest.raises(ids.IdentifierError):
            ids.check_role(bad)
        with pytest.raises(ids.IdentifierError):
            ids.check_status(bad)


def test_safe_rendering_escapes_and_bounds() -> None:
    assert ids.safe("a\nb") == "'a\\nb'"
    assert ids.safe("a\x00") == "'a\\x00'"
    long = ids.safe("x" * 100_000)
    assert len(long) < 100 and "100000 chars" in long


def test_printable_keeps_text_on_one_line() -> None:
    assert ids.printable("line one\nFORGED 2026 WARNING") == "line one\\nFORGED 2026 WARNING"
    assert "\x1b" not in ids.printable("\x1b[31mred")
    assert ids.printable("é ok") == "é ok"
    assert ids.printable("x" * 5000, limit=10).endswith("(5000 chars)")


def test_a_refusal_says_field_rule_and_example() -> None:
    with pytest.raises(ids.IdentifierError) as caught:
        ids.check_component("../x", "components[0].name")
    detail = caught.value.detail()
    assert detail["field"] == "components[0].name"
    assert detail["value"] == "'../x'"
    assert "lowercase" in detail["rule"]
    assert detail["example"] == "reader_0"
    assert detail["message"] == str(caught.value)


def test_text_is_bounded() -> None:
    assert ids.check_text("short", "reason") == "short"
    with pytest.raises(ids.IdentifierError, match="at most 4096"):
        ids.check_text("x" * 4097, "reason")

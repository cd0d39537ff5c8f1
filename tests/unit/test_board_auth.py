"""Board accounts: argon2 hashes, the first-start admin, server-side sessions and their expiry, the login rate
limit, CSRF tokens and the password policy, on a real (SQLite) node database migrated by Alembic."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, select

from unseen.board.auth import (
    ADMIN_USER,
    LOGIN_MAX_FAILURES,
    BoardAuth,
    RateLimitedError,
    UnknownUserError,
    WeakPasswordError,
    WrongPasswordError,
    check_password_policy,
    csrf_ok,
)
from unseen.storage.board_tables import BoardSession, BoardUser, LoginAttempt
from unseen.storage.database import migrate, open_engine
from unseen.storage.repository import NodeStore

PASSWORD = "a long enough password"
IP = "127.0.0.1"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fast_hasher() -> PasswordHasher:
    """argon2id with tiny costs: the same code path as production, fast enough for unit tests."""
    return PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


@pytest.fixture
def store(engine: Engine) -> NodeStore:
    return NodeStore(engine)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(store: NodeStore, clock: Clock) -> BoardAuth:
    board = BoardAuth(store.session, hasher=fast_hasher(), clock=clock)
    board.add_user(ADMIN_USER, PASSWORD)
    return board


# --- passwords ---------------------------------------------------------------------------------------------


def test_passwords_are_stored_as_salted_argon2id_hashes(auth: BoardAuth, store: NodeStore) -> None:
    auth.add_user("bob", PASSWORD)
    with store.session() as db:
        hashes = list(db.scalars(select(BoardUser.password_hash)))
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert all(PASSWORD not in h for h in hashes)
    assert len(set(hashes)) == 2, "the same password gets a different salt per user"


def test_the_first_start_makes_admin_with_a_random_password_in_an_owner_only_file(
    store: NodeStore, clock: Clock, tmp_path: Path
) -> None:
    auth = BoardAuth(store.session, hasher=fast_hasher(), clock=clock)
    password_file = tmp_path / "board-admin.password"
    password = auth.ensure_admin(password_file)
    assert password is not None and len(password) >= 16
    assert password_file.read_text().strip() == password
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert auth.login(ADMIN_USER, password, IP).username == ADMIN_USER
    assert auth.ensure_admin(password_file) is None, "a restart keeps the users and makes no new password"


def test_two_nodes_never_share_a_first_password(engine: Engine, tmp_path: Path) -> None:
    other = open_engine(f"sqlite:///{tmp_path / 'other.db'}")
    migrate(other)
    first = BoardAuth(NodeStore(engine).session, hasher=fast_hasher()).ensure_admin(tmp_path / "a")
    second = BoardAuth(NodeStore(other).session, hasher=fast_hasher()).ensure_admin(tmp_path / "b")
    other.dispose()
    assert first and second and first != second


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(auth: BoardAuth) -> None:
    with pytest.raises(WrongPasswordError) as wrong:
        auth.login(ADMIN_USER, "not the password", IP)
    with pytest.raises(WrongPasswordError) as unknown:
        auth.login("nobody", PASSWORD, IP)
    assert str(wrong.value) == str(unknown.value) == "wrong user name or password"


def test_user_names_are_case_insensitive(auth: BoardAuth) -> None:
    assert auth.login(" Admin ", PASSWORD, IP).username == ADMIN_USER


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 12 characters"),
        ("admin", "at least 12 characters"),
        ("x" * 1025, "at most 1024"),
        (" leading space ok?", "spaces"),
    ],
)
def test_the_password_policy_says_what_to_change(password: str, problem: str) -> None:
    with pytest.raises(WeakPasswordError, match=problem):
        check_password_policy(ADMIN_USER, password)


def test_a_password_equal_to_the_user_name_is_refused() -> None:
    with pytest.raises(WeakPasswordError, match="differ from the user name"):
        check_password_policy("administrator", "Administrator")


def test_a_new_password_replaces_the_old_and_ends_every_session(auth: BoardAuth) -> None:
    session = auth.login(ADMIN_USER, PASSWORD, IP)
    auth.set_password(ADMIN_USER, "another long password")
    assert auth.session(session.session_id) is None
    with pytest.raises(WrongPasswordError):
        auth.login(ADMIN_USER, PASSWORD, IP)
    assert auth.login(ADMIN_USER, "another long password", IP)


def test_setting_the_password_of_an_unknown_user_fails(auth: BoardAuth) -> None:
    with pytest.raises(UnknownUserError):
        auth.set_password("ghost", "another long password")


def test_a_hash_with_old_parameters_is_upgraded_at_login(store: NodeStore, clock: Clock) -> None:
    BoardAuth(store.session, hasher=fast_hasher(), clock=clock).add_user("carol", PASSWORD)
    stronger = PasswordHasher(time_cost=2, memory_cost=128, parallelism=1)
    BoardAuth(store.session, hasher=stronger, clock=clock).login("carol", PASSWORD, IP)
    with store.session() as db:
        digest = db.scalars(select(BoardUser.password_hash).where(BoardUser.username == "carol")).one()
    assert not stronger.check_needs_rehash(digest)


# --- sessions ----------------------------------------------------------------------------------------------


def test_the_database_keeps_only_a_hash_of_the_session_id(auth: BoardAuth, store: NodeStore) -> None:
    session = auth.login(ADMIN_USER, PASSWORD, IP)
    with store.session() as db:
        keys = list(db.scalars(select(BoardSession.id_hash)))
    assert len(keys) == 1 and session.session_id not in keys[0]
    active = auth.session(session.session_id)
    assert active is not None and active.username == ADMIN_USER


def test_unknown_empty_or_oversized_session_ids_find_nothing(auth: BoardAuth) -> None:
    for presented in (None, "", "forged", "x" * 10_000):
        assert auth.session(presented) is None


def test_a_session_expires_after_8_hours_idle(auth: BoardAuth, clock: Clock, store: NodeStore) -> None:
    session = auth.login(ADMIN_USER, PASSWORD, IP)
    clock.advance(auth.idle_s - 60)
    assert auth.session(session.session_id) is not None, "still within the idle time"
    clock.advance(auth.idle_s - 60)
    assert auth.session(session.session_id) is not None, "the last request kept it alive"
    clock.advance(auth.idle_s + 1)
    assert auth.session(session.session_id) is None
    with store.session() as db:
        assert db.scalars(select(BoardSession)).first() is None, "an expired session is deleted"


def test_activity_cannot_keep_a_session_alive_past_its_maximum_age(auth: BoardAuth, clock: Clock) -> None:
    session = auth.login(ADMIN_USER, PASSWORD, IP)
    while clock.now + 3600 < 1_800_000_000.0 + auth.max_age_s:
        clock.advance(3600)
        assert auth.session(session.session_id) is not None
    clock.advance(3600)
    assert auth.session(session.session_id) is None


def test_logout_ends_the_session(auth: BoardAuth) -> None:
    session = auth.login(ADMIN_USER, PASSWORD, IP)
    other = auth.login(ADMIN_USER, PASSWORD, IP)
    auth.logout(session.session_id)
    assert auth.session(session.session_id) is None
    assert auth.session(other.session_id) is not None, "only that browser is logged out"


# --- rate limit --------------------------------------------------------------------------------------------


def _fail(auth: BoardAuth, times: int, user: str = ADMIN_USER, ip: str = IP) -> None:
    for _ in range(times):
        with pytest.raises(WrongPasswordError):
            auth.login(user, "wrong password!", ip)


def test_after_n_wrong_passwords_even_the_right_one_waits(auth: BoardAuth, clock: Clock) -> None:
    _fail(auth, LOGIN_MAX_FAILURES)
    with pytest.raises(RateLimitedError) as limited:
        auth.login(ADMIN_USER, PASSWORD, IP)
    assert 0 < limited.value.retry_after_s <= auth.window_s
    assert "try again in about 15 min" in str(limited.value)
    clock.advance(auth.window_s + 1)
    assert auth.login(ADMIN_USER, PASSWORD, IP), "the window passed"


def test_the_limit_counts_recent_failures_only(auth: BoardAuth, clock: Clock) -> None:
    _fail(auth, LOGIN_MAX_FAILURES - 1)
    clock.advance(auth.window_s / 2)
    _fail(auth, 1)
    with pytest.raises(RateLimitedError) as limited:
        auth.login(ADMIN_USER, PASSWORD, IP)
    assert limited.value.retry_after_s <= auth.window_s / 2 + 1, "free again when the oldest failure leaves"
    clock.advance(auth.window_s / 2 + 1)
    assert auth.login(ADMIN_USER, PASSWORD, IP)


def test_the_limit_is_per_user_and_address(auth: BoardAuth) -> None:
    auth.add_user("dave", PASSWORD)
    _fail(auth, LOGIN_MAX_FAILURES)
    assert auth.login(ADMIN_USER, PASSWORD, "10.0.0.7"), "another address may still try"
    assert auth.login("dave", PASSWORD, IP), "another user from the same address may still try"


def test_guesses_from_many_addresses_lock_the_account_even_for_the_right_password(
    auth: BoardAuth, clock: Clock
) -> None:
    for n in range(auth.max_user_failures):
        _fail(auth, 1, ip=f"198.51.100.{n}")  # each address stays under its own limit
    with pytest.raises(RateLimitedError) as limited:
        auth.login(ADMIN_USER, PASSWORD, "203.0.113.9")
    assert 0 < limited.value.retry_after_s <= auth.window_s
    clock.advance(auth.window_s + 1)
    assert auth.login(ADMIN_USER, PASSWORD, "203.0.113.9"), "unlocked once the failures leave the window"


def test_unknown_users_are_limited_too(auth: BoardAuth) -> None:
    _fail(auth, LOGIN_MAX_FAILURES, user="mallory")
    with pytest.raises(RateLimitedError):
        auth.login("mallory", "anything at all", IP)


def test_a_successful_login_clears_its_failures(auth: BoardAuth, store: NodeStore) -> None:
    _fail(auth, LOGIN_MAX_FAILURES - 1)
    auth.login(ADMIN_USER, PASSWORD, IP)
    _fail(auth, LOGIN_MAX_FAILURES - 1)
    assert auth.login(ADMIN_USER, PASSWORD, IP), "the count started again after the success"
    with store.session() as db:
        assert db.scalars(select(LoginAttempt)).first() is None


def test_failures_survive_a_restart_of_the_node(auth: BoardAuth, store: NodeStore, clock: Clock) -> None:
    _fail(auth, LOGIN_MAX_FAILURES)
    restarted = BoardAuth(store.session, hasher=fast_hasher(), clock=clock)
    with pytest.raises(RateLimitedError):
        restarted.login(ADMIN_USER, PASSWORD, IP)


# --- CSRF --------------------------------------------------------------------------------------------------


def test_forms_must_carry_their_sessions_csrf_token(auth: BoardAuth) -> None:
    first = auth.login(ADMIN_USER, PASSWORD, IP)
    second = auth.login(ADMIN_USER, PASSWORD, IP)
    assert first.csrf_token != second.csrf_token
    active = auth.session(first.session_id)
    assert active is not None
    assert csrf_ok(active, first.csrf_token)
    for presented in (None, "", second.csrf_token, first.csrf_token[:-1]):
        assert not csrf_ok(active, presented)

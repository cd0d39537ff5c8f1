"""The board's HTTP side: pages, the JSON they poll, login and logout, mounted on the node's FastAPI app.

Everything reads the node's own ``JobService`` and ``NodeStore``, the ones the REST API uses, and the stop
button calls the same ``service.stop`` as ``unseen job stop``: the board adds views, not a second source
of truth. Pages are rendered on the server with Jinja2 (autoescaped) and kept fresh by small scripts that
poll JSON under ``/board/api``; no build step, and ECharts ships in ``static/vendor`` so charts work offline.

Every page and JSON endpoint needs a session: anonymous pages are redirected to the login page, anonymous
JSON gets 401. Board responses carry a strict Content-Security-Policy (scripts from this origin only, no
inline code), so markup injected through a job name or a log line could not run even if escaping failed.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

import jinja2
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.middleware.gzip import GZipMiddleware
from starlette.templating import Jinja2Templates

from unseen import __version__, ids
from unseen.board import views
from unseen.board.auth import (
    ADMIN_USER,
    PASSWORD_FILE,
    SESSION_MAX_S,
    ActiveSession,
    BoardAuth,
    LoginError,
    RateLimitedError,
    UnknownUserError,
    WeakPasswordError,
    csrf_ok,
)
from unseen.board.job_list import JobListQuery, list_page
from unseen.board.progress import progress_of
from unseen.board.static_files import StaticTable
from unseen.components.registry import get_component
from unseen.node.auth import TokenAuth
from unseen.node.executor import TaskExecutor
from unseen.node.service import JobService
from unseen.runtime.parties import PartyRef, Role
from unseen.storage.models import JobRecord
from unseen.storage.repository import JobNotFoundError

log = logging.getLogger(__name__)

PREFIX = "/board"
TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")
FORM_MAX_BYTES = 16 * 1024
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
STOP_NOTES = {
    "requested": "Stop requested: the job's tasks are being stopped on every party.",
    "ended": "The job had already ended; nothing was stopped.",
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BoardHeaders:
    """ASGI middleware: security headers on every board response, and no caching of pages or data.

    Pure ASGI rather than ``@app.middleware`` so streamed responses (log downloads) pass through untouched.
    """

    def __init__(self, app: AsgiApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        static = path.startswith(f"{PREFIX}/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                has_cache = any(k.lower() == b"cache-control" for k, _ in headers)
                if not (static and has_cache):  # static files say how long they keep (static_files.py)
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-cache" if static else b"no-store"))
                message["headers"] = [*headers, *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BoardCompression:
    """ASGI middleware: gzip the board's pages and JSON (a page of 50 jobs is ~40 KB of HTML, ~6 KB gzipped).

    Only under ``/board`` and not its static files, which are compressed once at start (static_files.py);
    the node's REST API is left as it is.
    """

    def __init__(self, app: AsgiApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=1024, compresslevel=6)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        board = path == PREFIX or path.startswith(PREFIX + "/")
        if scope["type"] == "http" and board and not path.startswith(f"{PREFIX}/static/"):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class NewPassword(BaseModel):
    password: str


def session_cookie_name(party_id: int) -> str:
    """Each node's own cookie names: cookies are not separated by port, so two boards on 127.0.0.1 (one
    per party) would otherwise overwrite each other's session and log each other out."""
    return f"unseen_session_{party_id}"


def login_cookie_name(party_id: int) -> str:
    return f"unseen_login_{party_id}"


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _safe_next(target: str | None) -> str:
    """Only a path inside the board: never an open redirect to another site."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/jobs"


async def _read_form(request: Request) -> dict[str, str]:
    """A small urlencoded form, read with a size cap (the board's forms are a few fields)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > FORM_MAX_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail="form too large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_MAX_BYTES:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail="form too large")
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=20)
    return {key: values[0] for key, values in fields.items()}


def _templates(static: StaticTable) -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static.url
    env.globals["version"] = __version__
    env.globals["states"] = views.STATES
    return Jinja2Templates(env=env)


class Board:
    """What the board's routes share: the node's service and store, the auth, the templates, and the views
    that turn records into what a page shows."""

    def __init__(self, service: JobService, auth: BoardAuth) -> None:
        self.service = service
        self.store = service.store
        self.config = service.config
        self.auth = auth
        self.static = StaticTable(STATIC_DIR, f"{PREFIX}/static")
        self.templates = _templates(self.static)
        self.session_cookie = session_cookie_name(service.party_id)
        self.login_cookie = login_cookie_name(service.party_id)

    # --- who is asking ------------------------------------------------------------------------------------
    def page_user(self, request: Request) -> ActiveSession:
        """A page's dependency: the session, or a redirect to the login page that comes back here."""
        active = self.auth.session(request.cookies.get(self.session_cookie))
        if active is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise HTTPException(
                status.HTTP_303_SEE_OTHER,
                detail="log in to the board first",
                headers={"Location": f"{PREFIX}/login?{urlencode({'next': target})}"},
            )
        return active

    def api_user(self, request: Request) -> ActiveSession:
        """A JSON endpoint's dependency: the session, or 401 (a script cannot follow a login redirect)."""
        active = self.auth.session(request.cookies.get(self.session_cookie))
        if active is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="log in to the board first")
        return active

    # --- rendering ----------------------------------------------------------------------------------------
    def render(
        self, request: Request, name: str, user: ActiveSession | None, status_code: int = 200, **context: Any
    ) -> Response:
        base = {"user": user, "party_id": self.service.party_id, "csrf": user.csrf_token if user else "", "nav": ""}
        return self.templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)

    def error_page(self, request: Request, user: ActiveSession | None, code: int, title: str, message: str) -> Response:
        return self.render(request, "error.html", user, status_code=code, title=title, message=message)

    def login_page(self, request: Request, next_url: str, error: str = "", code: int = 200, note: str = "") -> Response:
        """The login form, with a token that must come back both as a field and as a cookie (login CSRF)."""
        token = request.cookies.get(self.login_cookie) or secrets.token_urlsafe(24)
        response = self.render(
            request, "login.html", None, status_code=code, next=next_url, error=error, note=note, login_token=token
        )
        response.set_cookie(
            self.login_cookie,
            token,
            httponly=True,
            samesite="strict",
            path=PREFIX,
            secure=request.url.scheme == "https",
        )
        return response

    # --- records ------------------------------------------------------------------------------------------
    def find_job(self, job_id: str) -> JobRecord | None:
        ids.check_job_id(job_id)  # a bad id is refused (422, by the node's handler), not looked up
        try:
            return self.store.get_job(job_id)
        except JobNotFoundError:
            return None

    def require_job(self, job_id: str) -> JobRecord:
        job = self.find_job(job_id)
        if job is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"job {job_id} not found on this node")
        return job

    def progress(self, job: JobRecord) -> dict[str, dict[str, Any]]:
        """How far the running job's components are, from the metrics this node holds (none once it ended)."""
        if job.status in views.FINAL:
            return {}
        points = [(m.component, m.name, m.step) for m in self.store.metrics(job.job_id) if m.step is not None]
        return progress_of(views.components_of(views.config_of(job)), points)

    def job_list(self, query: JobListQuery) -> dict[str, Any]:
        """One page of the jobs list, with what the page needs to page and sort it."""
        now = time.time()
        jobs, total = list_page(self.store.session, query)
        pages = max(1, -(-total // query.per_page))
        first = (query.page - 1) * query.per_page
        return {
            "jobs": [views.job_row(job, now, self.progress(job), self.service.party_id) for job in jobs],
            "counts": self.state_counts(),
            "total": total,
            "page": query.page,
            "pages": pages,
            "range": f"{first + 1}-{first + len(jobs)} of {total}" if jobs else f"0 of {total}",
            "sort": query.sort,
            "order": "desc" if query.descending else "asc",
            "time_zone": views.time_zone(),
        }

    def state_counts(self) -> dict[str, int]:
        with self.store.session() as db:
            rows = db.execute(select(JobRecord.status, func.count()).group_by(JobRecord.status)).all()
        counts = {str(state): int(count) for state, count in rows}
        return {"all": sum(counts.values()), **{s: counts.get(s, 0) for s in views.STATES}}

    def job_payload(self, job: JobRecord) -> dict[str, Any]:
        tasks = self.store.tasks(job.job_id)
        detail = views.job_detail(job, tasks, time.time(), self.service.party_id, self.progress(job))
        return {**detail, "headline": views.headline(self.store.metrics(job.job_id))}

    def tables(self) -> list[dict[str, Any]]:
        return [views.table_view(r) for r in self.store.list_tables()]

    def component_payload(self, job: JobRecord, component: str) -> dict[str, Any] | None:
        """Everything the component page shows; None if the job has no such component."""
        entry = views.component_config(job, component)
        if entry is None:
            return None
        now = time.time()
        tasks = [
            views.task_view(t, now, self.service.party_id)
            for t in self.store.tasks(job.job_id)
            if t.component == component
        ]
        kind = str(entry.get("component", ""))
        try:
            description = get_component(kind).description
        except (LookupError, ImportError, TypeError, ValueError):
            description = ""
        local = [t for t in tasks if t["local"]]
        records = self.store.metrics(job.job_id, component)
        files = [
            {**item, "who": f"{t['role']}:{t['party_id']}"}
            for t in local
            for item in views.task_files(
                TaskExecutor.task_dir_of(
                    self.config.jobs_dir, job.job_id, component, PartyRef(Role(t["role"]), t["party_id"])
                )
            )
        ]
        base = f"{PREFIX}/jobs/{job.job_id}/components/{component}"
        logs = [
            {
                "who": f"{t['role']}:{t['party_id']}",
                "status": t["status"],
                "api": f"{PREFIX}/api/jobs/{job.job_id}/components/{component}/log?"
                + urlencode({"role": t["role"], "party": t["party_id"]}),
                "download": f"{base}/log/{t['role']}/{t['party_id']}",
            }
            for t in local
            if t["has_log"]
        ]
        return {
            "job": views.job_row(job, now),
            "name": component,
            "type": kind,
            "description": description,
            "status": views.component_status(t["status"] for t in tasks)
            if tasks or job.is_initiator
            else views.ELSEWHERE,
            "final": all(t["final"] for t in tasks) if tasks else job.status in views.FINAL,
            "inputs": entry.get("inputs") or {},
            "params": views.param_rows(entry),
            "tasks": tasks,
            "outputs": views.output_tables(self.config.tables_dir, job.job_id, component),
            "files": files,
            "models": views.model_parts(self.config.models_dir, job.job_id, component),
            "metrics": views.metric_views(records, views.threshold_of(entry)),
            "privacy": views.privacy_spent(records, entry),
            "logs": logs,
            "remote_parties": sorted({t["party_id"] for t in tasks if not t["local"]}),
        }


def _check_task_ref(job_id: str, component: str, role: str, party: int) -> None:
    """A task's address from a URL, checked before it names a row, a file or a download."""
    ids.check_job_id(job_id)
    ids.check_component(component)
    ids.check_role(role)
    ids.check_party(party)


def _board_of(request: Request) -> Board:
    board: Board = request.app.state.unseen_board
    return board


def _page_user(request: Request) -> ActiveSession:
    return _board_of(request).page_user(request)


def _api_user(request: Request) -> ActiveSession:
    return _board_of(request).api_user(request)


PageUser = Annotated[ActiveSession, Depends(_page_user)]


def _login_routes(board: Board) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    auth = board.auth

    @router.get("/login")
    def login_form(request: Request, next: str | None = None, bye: int = 0) -> Response:
        if auth.session(request.cookies.get(board.session_cookie)) is not None:
            return RedirectResponse(_safe_next(next), status.HTTP_303_SEE_OTHER)
        return board.login_page(request, _safe_next(next), note="You are logged out." if bye else "")

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await _read_form(request)
        next_url = _safe_next(form.get("next"))
        cookie_token = request.cookies.get(board.login_cookie, "")
        if not cookie_token or not hmac.compare_digest(cookie_token.encode(), form.get("login_token", "").encode()):
            return board.login_page(request, next_url, "This login form expired; please try again.", 400)
        who, ip = form.get("username", ""), _client_ip(request)
        try:
            granted = await run_in_threadpool(auth.login, who, form.get("password", ""), ip)
        except RateLimitedError as exc:
            log.warning("board: login of user %r from %s refused: too many wrong passwords", who[:64], ip)
            response = board.login_page(request, next_url, str(exc), status.HTTP_429_TOO_MANY_REQUESTS)
            response.headers["Retry-After"] = str(exc.retry_after_s)
            return response
        except LoginError as exc:
            log.info("board: wrong password for user %r from %s", who[:64], ip)
            return board.login_page(request, next_url, str(exc), status.HTTP_401_UNAUTHORIZED)
        log.info("board: user %s logged in from %s", granted.username, ip)
        response = RedirectResponse(next_url, status.HTTP_303_SEE_OTHER)
        response.set_cookie(
            board.session_cookie,
            granted.session_id,
            max_age=int(SESSION_MAX_S),
            httponly=True,
            samesite="strict",
            path=PREFIX,
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(board.login_cookie, path=PREFIX)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        form = await _read_form(request)
        session_id = request.cookies.get(board.session_cookie)
        active = await run_in_threadpool(auth.session, session_id)
        if active is not None:
            if not csrf_ok(active, form.get("csrf")):
                return board.error_page(request, active, 403, "Form expired", "Reload the page and log out again.")
            await run_in_threadpool(auth.logout, session_id)
            log.info("board: user %s logged out", active.username)
        response = RedirectResponse(f"{PREFIX}/login?bye=1", status.HTTP_303_SEE_OTHER)
        response.delete_cookie(board.session_cookie, path=PREFIX)
        return response

    return router


def _page_routes(board: Board) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/jobs")
    def jobs_page(
        request: Request, user: PageUser, state: str = "", q: str = "", sort: str = "", order: str = "", page: str = "1"
    ) -> Response:
        query = JobListQuery.parse(state, q, sort, order, page)
        listing = board.job_list(query)
        return board.render(
            request, "jobs.html", user, nav="jobs", listing=listing, state=query.state, q=query.q, query=query.params()
        )

    @router.get("/jobs/{job_id}")
    def job_page(request: Request, job_id: str, user: PageUser, stop: str = "") -> Response:
        job = board.find_job(job_id)
        if job is None:
            return board.error_page(request, user, 404, "No such job", f"Job {job_id} is not known to this node.")
        note = STOP_NOTES.get(stop, "")
        return board.render(request, "job.html", user, nav="jobs", job=board.job_payload(job), note=note)

    @router.get("/jobs/{job_id}/config.yaml")
    def download_config(request: Request, job_id: str, user: PageUser) -> Response:
        job = board.find_job(job_id)
        if job is None:
            return board.error_page(request, user, 404, "No such job", f"Job {job_id} is not known to this node.")
        return Response(
            views.config_yaml(job),
            media_type="application/yaml; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="job_{job_id}.yaml"'},
        )

    @router.post("/jobs/{job_id}/stop")
    async def stop_job(request: Request, job_id: str, user: PageUser) -> Response:
        """The stop button: the same ``service.stop`` as ``unseen job stop``, behind the session's CSRF token."""
        form = await _read_form(request)
        if not csrf_ok(user, form.get("csrf")):
            return board.error_page(request, user, 403, "Form expired", "Reload the job's page and press Stop again.")
        if board.find_job(job_id) is None:
            return board.error_page(request, user, 404, "No such job", f"Job {job_id} is not known to this node.")
        message = await run_in_threadpool(board.service.stop, job_id, f"stopped by {user.username} on the board")
        log.info("board: %s asked to stop job %s: %s", user.username, job_id, message)
        note = "ended" if "already ended" in message else "requested"
        return RedirectResponse(f"{PREFIX}/jobs/{job_id}?stop={note}", status.HTTP_303_SEE_OTHER)

    @router.get("/jobs/{job_id}/components/{component}")
    def component_page(request: Request, job_id: str, component: str, user: PageUser) -> Response:
        ids.check_component(component)
        job = board.find_job(job_id)
        payload = board.component_payload(job, component) if job is not None else None
        if payload is None:
            message = f"Job {job_id} has no component {component} on this node."
            return board.error_page(request, user, 404, "No such component", message)
        return board.render(request, "component.html", user, nav="jobs", c=payload)

    @router.get("/jobs/{job_id}/components/{component}/log/{role}/{party}")
    def download_log(request: Request, job_id: str, component: str, role: str, party: int, user: PageUser) -> Response:
        _check_task_ref(job_id, component, role, party)
        task = board.store.task(job_id, component, role, party)
        local = task is not None and task.party_id == board.service.party_id and bool(task.log_path)
        if task is None or not local or not Path(task.log_path).is_file():
            message = "This node has no log for that task: logs stay on the node of the party that ran the task."
            return board.error_page(request, user, 404, "No log here", message)
        filename = f"{job_id}_{component}_{role}_{party}.log"
        return FileResponse(task.log_path, media_type="text/plain; charset=utf-8", filename=filename)

    @router.get("/data")
    def data_page(request: Request, user: PageUser) -> Response:
        return board.render(request, "data.html", user, nav="data", tables=board.tables())

    return router


def _api_routes(board: Board) -> APIRouter:
    """JSON the pages poll; a session is required (401 otherwise)."""
    router = APIRouter(prefix=f"{PREFIX}/api", include_in_schema=False, dependencies=[Depends(_api_user)])

    @router.get("/jobs")
    def api_jobs(
        state: str = "",
        q: str = Query("", max_length=200),
        sort: str = "",
        order: str = "",
        page: int = Query(1, ge=1, le=1_000_000),
        per: int = Query(0, ge=0, le=200),
    ) -> dict[str, Any]:
        if state and state not in views.STATES:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"unknown state '{state}'")
        return board.job_list(JobListQuery.parse(state, q, sort, order, page, per))

    @router.get("/jobs/{job_id}")
    def api_job(job_id: str) -> dict[str, Any]:
        return board.job_payload(board.require_job(job_id))

    @router.get("/jobs/{job_id}/components/{component}")
    def api_component(job_id: str, component: str) -> dict[str, Any]:
        ids.check_component(component)
        payload = board.component_payload(board.require_job(job_id), component)
        if payload is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"job {job_id} has no component {component}")
        return payload

    @router.get("/jobs/{job_id}/components/{component}/log")
    def api_log(job_id: str, component: str, role: str, party: int, offset: int = -1) -> dict[str, Any]:
        """The log after ``offset`` (-1: its tail), so a page can follow a running task's log."""
        _check_task_ref(job_id, component, role, party)
        board.require_job(job_id)
        task = board.store.task(job_id, component, role, party)
        if task is None or task.party_id != board.service.party_id or not task.log_path:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail=f"no log of {component} {role}:{party} on party {board.service.party_id}'s node",
            )
        final = task.status in views.FINAL
        chunk = views.read_log_chunk(Path(task.log_path), offset, complete=final)
        return {**chunk, "status": task.status, "final": final}

    @router.get("/data")
    def api_data() -> dict[str, Any]:
        return {"tables": board.tables()}

    return router


def _admin_routes(board: Board, api_token: str) -> APIRouter:
    """For the CLI: ``unseen board passwd`` presents the node's API token, like every other CLI call."""
    router = APIRouter(prefix="/v1/board", dependencies=[Depends(TokenAuth(api_token))], tags=["board"])

    @router.post("/users/{username}/password")
    def set_password(username: str, body: NewPassword) -> dict[str, str]:
        """Set a board user's password; their sessions end. Setting admin's deletes the first-start file."""
        try:
            board.auth.set_password(username, body.password)
        except WeakPasswordError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
        except UnknownUserError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
        name = username.strip().lower()
        if name == ADMIN_USER:
            (board.config.home / PASSWORD_FILE).unlink(missing_ok=True)
        log.info("board: the password of user %s was changed through the API", name)
        return {"message": f"password of board user {name} changed; their sessions have ended"}

    return router


def mount_board(app: FastAPI, service: JobService, api_token: str, auth: BoardAuth | None = None) -> BoardAuth:
    """Serve the board on ``app`` under ``/board``; on a node's first start, create the admin account.

    Returns the ``BoardAuth`` in use (tests pass one with a fast hasher).
    """
    auth = auth or BoardAuth(service.store.session)
    password_file = service.config.home / PASSWORD_FILE
    created = auth.ensure_admin(password_file)
    if created is not None:
        log.warning(
            "board: created user '%s' with password %s (shown only this once; also in %s, readable by you only). "
            "Change it with `unseen board passwd`.",
            ADMIN_USER,
            created,
            password_file,
        )
    board = Board(service, auth)
    app.state.unseen_board = board

    def home() -> Response:
        return RedirectResponse(f"{PREFIX}/jobs", status.HTTP_303_SEE_OTHER)

    for path in (PREFIX, PREFIX + "/"):
        app.add_api_route(path, home, include_in_schema=False)
    if not any(getattr(route, "path", None) == "/" for route in app.routes):
        app.add_api_route("/", home, include_in_schema=False)
    app.include_router(_login_routes(board))
    app.include_router(_page_routes(board))
    app.include_router(_api_routes(board))
    app.include_router(_admin_routes(board, api_token))
    app.include_router(board.static.router())
    app.add_middleware(BoardCompression)
    app.add_middleware(BoardHeaders)
    return auth

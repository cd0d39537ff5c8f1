"""The CLI's way to a node: its REST API, with the node's token, and errors a person can act on."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import typer

from unseen.config.node import NodeConfig
from unseen.node.standalone import SiteError, StandaloneSite

NODE_URL_ENV = "UNSEEN_NODE_URL"
TOKEN_ENV = "UNSEEN_API_TOKEN"  # noqa: S105 - the variable's name, not a secret


class ClientError(RuntimeError):
    pass


@dataclass
class NodeClient:
    base_url: str
    token: str
    party_id: int | None = None
    timeout: float = 30.0
    # One connection pool for all of this client's requests. A new pool per request (``httpx.request``)
    # builds a TLS context and a connection each time: tens of milliseconds of CPU for every poll of
    # ``--wait``, taken from the very nodes the job runs on when the site is on this machine.
    _http: httpx.Client | None = field(default=None, init=False, repr=False, compare=False)

    def _session(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=self.timeout, headers={"Authorization": f"Bearer {self.token}"})
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._session().request(method, f"{self.base_url}/v1{path}", **kwargs)
        except httpx.HTTPError as exc:
            who = f"party {self.party_id}'s node" if self.party_id else "the node"
            raise ClientError(
                f"cannot reach {who} at {self.base_url} ({exc}); is it running? (`unseen standalone status`)"
            ) from None
        if response.status_code >= 400:
            raise ClientError(_error_text(response))
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def post(self, path: str, body: Any = None) -> Any:
        return self._request("POST", path, json=body).json()

    def put(self, path: str, content: bytes | Iterable[bytes], timeout: float | None = None, **params: Any) -> Any:
        """``content``: the body, or its chunks (sent as they come, for a file larger than memory). ``timeout``
        overrides the client's for a request the node takes long to answer (a big upload it parses)."""
        query = {k: v for k, v in params.items() if v is not None}
        extra = {} if timeout is None else {"timeout": timeout}
        return self._request("PUT", path, content=content, params=query, **extra).json()

    def delete(self, path: str) -> Any:
        return self._request("DELETE", path).json()

    def text(self, path: str, **params: Any) -> str:
        return self._request("GET", path, params={k: v for k, v in params.items() if v is not None}).text


def _error_text(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    if isinstance(detail, dict) and "rule" in detail and "message" in detail:  # a refused identifier
        return str(detail["message"])
    if isinstance(detail, dict) and "problems" in detail:
        return "the job config is invalid:\n" + "\n".join(f"  - {p}" for p in detail["problems"])
    return f"{detail}" if isinstance(detail, str) else f"HTTP {response.status_code}: {detail}"


def fail(message: str) -> typer.Exit:
    """Print a CLI error the way every command does, and the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def standalone_node(party_id: int | None) -> tuple[int, NodeConfig]:
    """A party's node in the standalone site (the site's first party when none is given)."""
    site = StandaloneSite()
    try:
        parties = site.require().parties
        party = parties[0] if party_id is None else party_id
        return party, site.node_config(party)
    except SiteError as exc:
        raise ClientError(str(exc)) from None


def client_for(party_id: int | None = None) -> NodeClient:
    """The node of ``party_id`` in the standalone site, or the one named by UNSEEN_NODE_URL/UNSEEN_API_TOKEN."""
    url = os.environ.get(NODE_URL_ENV)
    if url:
        token = os.environ.get(TOKEN_ENV)
        if not token:
            raise ClientError(f"{NODE_URL_ENV} is set but {TOKEN_ENV} is not; set it to the node's API token")
        return NodeClient(url.rstrip("/"), token, party_id)
    party, config = standalone_node(party_id)
    token_file = config.api_token_file
    if not token_file.is_file():
        raise ClientError(f"party {party}'s node has no API token yet at {token_file}; start it first")
    return NodeClient(f"http://{config.rest_host}:{config.rest_port}", token_file.read_text().strip(), party)


def client_for_job(job_id: str, party_id: int | None) -> NodeClient:
    """The node to ask about a job: the given party's, else the standalone node that initiated it."""
    if party_id is not None or os.environ.get(NODE_URL_ENV):
        return client_for(party_id)
    site = StandaloneSite()
    try:
        parties = site.require().parties
    except SiteError as exc:
        raise ClientError(str(exc)) from None
    known: NodeClient | None = None
    for party in parties:
        try:
            client = client_for(party)
            job = client.get(f"/jobs/{job_id}")
        except ClientError:
            continue
        if job.get("is_initiator"):
            return client
        known = known or client
    if known is None:
        raise ClientError(f"no node of the standalone site knows job {job_id}; list jobs with `unseen job list`")
    return known

"""The node's REST API: token auth, OpenAPI, and job-config validation with one problem per field."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.conftest import Site

pytestmark = pytest.mark.integration


def _url(site: Site, party: int) -> str:
    return site.client(party).base_url


def test_health_is_public_and_names_the_party(site: Site) -> None:
    answer = httpx.get(f"{_url(site, 9999)}/v1/health").json()
    assert answer["status"] == "ok" and answer["party_id"] == 9999
    assert answer["pid"] == site.standalone.pid_of(9999)  # what `standalone start` checks it started this node by


def test_job_endpoints_refuse_a_missing_or_wrong_token(site: Site) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        response = httpx.get(f"{_url(site, 9999)}/v1/jobs", headers=headers)
        assert response.status_code == 401
        assert "API token" in response.json()["detail"]


def test_openapi_lists_the_job_service(site: Site) -> None:
    paths = httpx.get(f"{_url(site, 9999)}/openapi.json").json()["paths"]
    for path in ("/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/tasks", "/v1/jobs/{job_id}/logs", "/v1/health"):
        assert path in paths


def _toy(**overrides: object) -> dict[str, object]:
    job: dict[str, object] = {
        "initiator": {"role": "guest", "party_id": 9999},
        "parties": {"guest": [9999], "host": [10000]},
        "components": [{"name": "sum_0", "component": "toy_secure_sum"}],
    }
    job.update(overrides)
    return job


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"components": [{"name": "sum_0", "component": "nope"}]}, "unknown component 'nope'"),
        ({"parties": {"guest": [9999], "hots": [10000]}}, "hots"),
        ({"components": [{"name": "sum_0", "component": "toy_secure_sum", "params": {"dta_num": 1}}]}, "dta_num"),
        (
            {
                "components": [
                    {"name": "a", "component": "toy_secure_sum", "inputs": {"data": "b.out"}},
                    {"name": "b", "component": "toy_secure_sum", "inputs": {"data": "a.out"}},
                ]
            },
            "inputs",
        ),
    ],
)
def test_bad_configs_are_refused_with_the_field(site: Site, overrides: dict[str, object], expected: str) -> None:
    client = site.client(9999)
    response = httpx.post(
        f"{client.base_url}/v1/jobs", json=_toy(**overrides), headers={"Authorization": f"Bearer {client.token}"}
    )
    assert response.status_code == 422
    assert any(expected in problem for problem in response.json()["detail"]["problems"]), response.json()


def test_a_job_for_another_initiator_is_refused_with_the_fix(site: Site) -> None:
    client = site.client(10000)
    response = httpx.post(
        f"{client.base_url}/v1/jobs", json=_toy(), headers={"Authorization": f"Bearer {client.token}"}
    )
    assert response.status_code == 409
    assert "submit it to party 9999's node" in response.json()["detail"]


def test_a_party_outside_the_routing_table_is_refused(site: Site) -> None:
    client = site.client(9999)
    job = _toy(parties={"guest": [9999], "host": [4242]})
    response = httpx.post(f"{client.base_url}/v1/jobs", json=job, headers={"Authorization": f"Bearer {client.token}"})
    assert response.status_code == 409
    assert "[4242]" in response.json()["detail"] and "peers" in response.json()["detail"]

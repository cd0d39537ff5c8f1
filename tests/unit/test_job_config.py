"""Tests for unseen.job.config: the job format, its error messages and the DAG helpers.

Every bad config is tested on its own and must name the field path the user wrote and say the fix, because
that message is all a user sees when a node refuses a job.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from unseen.components.registry import BENCHMARK_MODULES, UnknownComponentError, component_names, get_component
from unseen.components.spec import ComponentSpec
from unseen.job.config import (
    ComponentConfig,
    ComponentLookup,
    JobConfig,
    JobConfigError,
    load_job_config,
    loads_job_config,
    parse_job_config,
)
from unseen.runtime.parties import PartyRef, Role

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DOC = ROOT / "docs" / "job-config.md"


# --- fake component types, known only to these tests ------------------------------------------------------


class ReaderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table: str


class PsiParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    curve: str = "ristretto255"


class TrainerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epochs: int = Field(10, ge=1, le=1000)
    learning_rate: float = Field(0.1, gt=0)


def _noop(ctx: Any, params: Any) -> None:
    return None


FAKES = {
    spec.name: spec
    for spec in (
        ComponentSpec("reader", frozenset({Role.GUEST, Role.HOST}), ReaderParams, _noop, outputs=("data",)),
        ComponentSpec("psi", frozenset({Role.GUEST, Role.HOST}), PsiParams, _noop, inputs=("data",), outputs=("data",)),
        ComponentSpec(
            "trainer",
            frozenset(Role),
            TrainerParams,
            _noop,
            inputs=("train_data",),
            outputs=("model",),
        ),
    )
}


@pytest.fixture
def lookup() -> ComponentLookup:
    """The real registry plus the fake types, behaving like ``get_component`` for unknown names."""

    def find(name: str) -> ComponentSpec:
        if name in FAKES:
            return FAKES[name]
        if name in component_names():
            return get_component(name)
        known = ", ".join(sorted({*FAKES, *component_names()}))
        raise UnknownComponentError(f"unknown component '{name}'; known components: {known}")

    return find


def toy() -> dict[str, Any]:
    return {
        "name": "toy",
        "initiator": {"role": "guest", "party_id": 10000},
        "parties": {"guest": [10000], "host": [10000]},
        "components": [
            {
                "name": "secure_sum_0",
                "component": "toy_secure_sum",
                "params": {"data_num": 1000, "partitions": 4},
            }
        ],
    }


def pipeline() -> dict[str, Any]:
    """reader -> psi -> trainer, over guest 9999, hosts 10000 and 10001, arbiter 10002."""
    return {
        "initiator": {"role": "guest", "party_id": 9999},
        "parties": {"guest": [9999], "host": [10000, 10001], "arbiter": [10002]},
        "timeout_s": 600,
        "components": [
            {"name": "reader_0", "component": "reader", "params": {"table": "bank.guest"}},
            {"name": "psi_0", "component": "psi", "inputs": {"data": "reader_0.data"}},
            {
                "name": "lr_0",
                "component": "trainer",
                "params": {"epochs": 5},
                "role_params": {"host": {"learning_rate": 0.5}},
                "inputs": {"train_data": "psi_0.data"},
            },
        ],
    }


def error_of(data: Any, lookup: ComponentLookup) -> str:
    with pytest.raises(JobConfigError) as caught:
        parse_job_config(data, lookup)
    message = str(caught.value)
    assert message == "\n".join(caught.value.problems)
    assert "errors.pydantic.dev" not in message
    assert "Input should" not in message
    return message


def assert_problem(message: str, path: str, *phrases: str) -> None:
    """One line of ``message`` starts with ``path`` and contains every phrase."""
    lines = [line for line in message.splitlines() if line.startswith(f"{path}:")]
    assert lines, f"no problem for {path!r} in:\n{message}"
    assert any(all(phrase in line for phrase in phrases) for line in lines), message


# --- happy paths -------------------------------------------------------------------------------------------


def test_toy_example_file_parses_with_the_real_registry() -> None:
    config = load_job_config(EXAMPLES / "toy" / "job.yaml")
    assert config.name == "toy"
    assert config.initiator.role is Role.GUEST
    assert config.initiator.party_id == 10000
    assert config.timeout_s == 3600
    component = config.component("secure_sum_0")
    assert component.component == "toy_secure_sum"
    assert component.params == {"data_num": 1000, "partitions": 4}
    assert component.roles == [Role.GUEST, Role.HOST]


def test_participants_when_guest_and_host_are_the_same_party() -> None:
    config = parse_job_config(toy())
    expected = [PartyRef(Role.GUEST, 10000), PartyRef(Role.HOST, 10000)]
    assert config.participants() == expected
    assert config.participants_of("secure_sum_0") == expected
    assert config.parties_of(Role.GUEST) == config.parties_of(Role.HOST) == [10000]
    assert config.parties_of(Role.ARBITER) == []


def test_participants_are_sorted_and_unique(lookup: ComponentLookup) -> None:
    config = parse_job_config(pipeline(), lookup)
    assert [str(p) for p in config.participants()] == [
        "arbiter:10002",
        "guest:9999",
        "host:10000",
        "host:10001",
    ]
    assert [str(p) for p in config.participants_of("psi_0")] == ["guest:9999", "host:10000", "host:10001"]
    assert len(config.participants_of("lr_0")) == 4


def test_three_component_dag_runs_producers_first(lookup: ComponentLookup) -> None:
    data = pipeline()
    data["components"].reverse()  # written consumer first: the order must come from the wiring
    config = parse_job_config(data, lookup)
    assert [c.name for c in config.topological_order()] == ["reader_0", "psi_0", "lr_0"]
    assert config.upstream("lr_0") == ["psi_0"]
    assert config.upstream("reader_0") == []


def test_topological_order_keeps_file_order_between_independent_components(lookup: ComponentLookup) -> None:
    data = pipeline()
    data["components"] = [
        {"name": "reader_b", "component": "reader", "params": {"table": "b"}},
        {"name": "psi_b", "component": "psi", "inputs": {"data": "reader_b.data"}},
        {"name": "reader_a", "component": "reader", "params": {"table": "a"}},
        {"name": "psi_a", "component": "psi", "inputs": {"data": "reader_a.data"}},
        {"name": "toy_0", "component": "toy_secure_sum"},
    ]
    config = parse_job_config(data, lookup)
    assert [c.name for c in config.topological_order()] == ["reader_b", "psi_b", "reader_a", "psi_a", "toy_0"]


def test_params_for_merges_role_params_over_params(lookup: ComponentLookup) -> None:
    config = parse_job_config(pipeline(), lookup)
    host = config.params_for("lr_0", Role.HOST, lookup)
    guest = config.params_for("lr_0", Role.GUEST, lookup)
    assert isinstance(host, TrainerParams)
    assert isinstance(guest, TrainerParams)
    assert (host.epochs, host.learning_rate) == (5, 0.5)
    assert (guest.epochs, guest.learning_rate) == (5, 0.1)


def test_params_for_the_toy_uses_the_real_params_model() -> None:
    data = toy()
    data["components"][0]["role_params"] = {"host": {"partitions": 2}}
    config = parse_job_config(data)
    assert config.params_for("secure_sum_0", Role.HOST).model_dump() == {"data_num": 1000, "partitions": 2}
    assert config.params_for("secure_sum_0", Role.GUEST).model_dump() == {"data_num": 1000, "partitions": 4}


def test_params_for_a_role_the_component_does_not_run_as(lookup: ComponentLookup) -> None:
    config = parse_job_config(pipeline(), lookup)
    with pytest.raises(JobConfigError, match="does not run as arbiter"):
        config.params_for("psi_0", Role.ARBITER, lookup)


def test_to_json_round_trips(lookup: ComponentLookup) -> None:
    config = parse_job_config(pipeline(), lookup)
    again = parse_job_config(json.loads(config.to_json()), lookup)
    assert again == config
    assert again.to_json() == config.to_json()
    assert loads_job_config(config.to_json(), lookup) == config


def test_default_roles_are_supported_roles_that_have_parties(lookup: ComponentLookup) -> None:
    data = pipeline()
    del data["parties"]["arbiter"]
    config = parse_job_config(data, lookup)
    assert config.component("lr_0").roles == [Role.GUEST, Role.HOST]
    data = toy()
    data["parties"] = {"guest": [10000]}
    assert parse_job_config(data).component("secure_sum_0").roles == [Role.GUEST]


def test_explicit_roles_are_kept(lookup: ComponentLookup) -> None:
    data = pipeline()
    data["components"][2]["roles"] = ["host", "guest"]
    config = parse_job_config(data, lookup)
    assert config.component("lr_0").roles == [Role.HOST, Role.GUEST]
    assert all(p.role is not Role.ARBITER for p in config.participants_of("lr_0"))


def test_optional_fields_have_defaults() -> None:
    data = toy()
    del data["name"]
    config = parse_job_config(data)
    assert config.name is None
    assert config.timeout_s == 3600
    component = config.component("secure_sum_0")
    assert (component.role_params, component.inputs) == ({}, {})


def test_component_lookup_of_unknown_instance_lists_instances() -> None:
    config = parse_job_config(toy())
    with pytest.raises(KeyError, match="secure_sum_0"):
        config.component("nope")


def test_load_json_and_yml_files(tmp_path: Path) -> None:
    json_path = tmp_path / "job.json"
    json_path.write_text(json.dumps(toy()), encoding="utf-8")
    yml_path = tmp_path / "job.yml"
    yml_path.write_text((EXAMPLES / "toy" / "job.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert load_job_config(json_path) == load_job_config(yml_path)


def test_yaml_text_and_json_text_parse_alike() -> None:
    assert loads_job_config(json.dumps(toy())) == parse_job_config(toy())


def test_model_alone_leaves_roles_unresolved() -> None:
    config = JobConfig.model_validate(toy())
    assert isinstance(config.components[0], ComponentConfig)
    with pytest.raises(JobConfigError, match="parse_job_config"):
        config.participants_of("secure_sum_0")


# --- structure -------------------------------------------------------------------------------------------


def test_unknown_top_level_key(lookup: ComponentLookup) -> None:
    data = toy()
    data["colour"] = "red"
    assert_problem(error_of(data, lookup), "colour", "unknown key 'colour'", "remove it", "components")


def test_unknown_key_in_a_component(lookup: ComponentLookup) -> None:
    data = toy()
    data["components"][0]["parms"] = {}
    assert_problem(error_of(data, lookup), "components[0].parms", "unknown key", "role_params")


def test_missing_initiator(lookup: ComponentLookup) -> None:
    data = toy()
    del data["initiator"]
    assert_problem(error_of(data, lookup), "initiator", "missing", "party_id")


def test_top_level_must_be_a_mapping(lookup: ComponentLookup) -> None:
    assert_problem(error_of([toy()], lookup), "job config", "must be a mapping")


def test_parties_must_be_a_mapping(lookup: ComponentLookup) -> None:
    data = toy()
    data["parties"] = [10000]
    assert_problem(error_of(data, lookup), "parties", "must be a mapping")


def test_name_too_long(lookup: ComponentLookup) -> None:
    data = toy()
    data["name"] = "x" * 129
    assert_problem(error_of(data, lookup), "name", "at most 128 characters")


@pytest.mark.parametrize(
    ("where", "path"),
    [
        ("parties", "parties.arbitter"),
        ("initiator", "initiator.role"),
        ("roles", "components[0].roles[1]"),
        ("role_params", "components[0].role_params.arbitter"),
    ],
)
def test_unknown_role_name(where: str, path: str, lookup: ComponentLookup) -> None:
    data = toy()
    if where == "parties":
        data["parties"]["arbitter"] = [10001]
    elif where == "initiator":
        data["initiator"]["role"] = "arbitter"
    elif where == "roles":
        data["components"][0]["roles"] = ["guest", "arbitter"]
    else:
        data["components"][0]["role_params"] = {"arbitter": {}}
    assert_problem(error_of(data, lookup), path, "unknown role 'arbitter'", "guest, host, arbiter")


@pytest.mark.parametrize("bad", [0, -1, "10000", 1.5, True, None])
def test_party_id_must_be_a_positive_int(bad: Any, lookup: ComponentLookup) -> None:
    data = toy()
    data["parties"]["host"] = [10001, bad]
    assert_problem(error_of(data, lookup), "parties.host[1]", "positive integer", repr(bad))


def test_initiator_party_id_must_be_a_positive_int(lookup: ComponentLookup) -> None:
    data = toy()
    data["initiator"]["party_id"] = "10000"
    assert_problem(error_of(data, lookup), "initiator.party_id", "positive integer")


def test_duplicate_party_in_one_role(lookup: ComponentLookup) -> None:
    data = toy()
    data["parties"]["host"] = [10000, 10001, 10000]
    assert_problem(error_of(data, lookup), "parties.host", "party 10000 is listed twice", "once per role")


def test_empty_party_list(lookup: ComponentLookup) -> None:
    data = toy()
    data["parties"]["host"] = []
    assert_problem(error_of(data, lookup), "parties.host", "no party ids", "remove this role")


def test_empty_components(lookup: ComponentLookup) -> None:
    data = toy()
    data["components"] = []
    assert_problem(error_of(data, lookup), "components", "empty", "add at least one component")


@pytest.mark.parametrize("bad", ["Reader_0", "0reader", "reader-0", "", "r" * 65, "reader.0"])
def test_bad_instance_name(bad: str, lookup: ComponentLookup) -> None:
    data = toy()
    data["components"][0]["name"] = bad
    assert_problem(error_of(data, lookup), "components[0].name", "bad instance name", "lowercase letters")


def test_long_but_valid_instance_name(lookup: ComponentLookup) -> None:
    data = toy()
    data["components"][0]["name"] = "r" * 64
    assert parse_job_config(data, lookup).components[0].name == "r" * 64


@pytest.mark.parametrize("bad", [0, 604_801, "60", 1.5])
def test_timeout_out_of_range(bad: Any, lookup: ComponentLookup) -> None:
    data = toy()
    data["timeout_s"] = bad
    assert_problem(error_of(data, lookup), "timeout_s", "from 1 to 604800", "default of 3600")


@pytest.mark.parametrize("good", [1, 604_800])
def test_timeout_bounds_are_inclusive(good: int, lookup: ComponentLookup) -> None:
    data = toy()
    data["timeout_s"] = good
    assert parse_job_config(data, lookup).timeout_s == good


@pytest.mark.parametrize("bad", ["reader_0", "reader_0.", ".data", "reader_0.data.x", "Reader.data", 3])
def test_malformed_input_reference(bad: Any, lookup: ComponentLookup) -> None:
    data = pipeline()
    data["components"][1]["inputs"]["data"] = bad
    message = error_of(data, lookup)
    if isinstance(bad, str):
        assert_problem(message, "components[1].inputs.data", "is not a reference", "<instance>.<output slot>")
    else:
        assert_problem(message, "components[1].inputs.data", "must be a valid string")


def test_structure_problems_are_all_reported_together(lookup: ComponentLookup) -> None:
    data = toy()
    data["timeout_s"] = 0
    data["parties"]["host"] = [-5]
    message = error_of(data, lookup)
    assert_problem(message, "timeout_s", "from 1 to 604800")
    assert_problem(message, "parties.host[0]", "positive integer")


# --- meaning -----------------------------------------------------------------------------------------------


def test_initiator_role_not_in_parties(lookup: ComponentLookup) -> None:
    data = toy()
    data["initiator"]["role"] = "arbiter"
    assert_problem(error_of(data, lookup), "initiator.role", "no party plays arbiter", "parties.arbiter", "guest, host")


def test_initiator_party_not_among_the_role_parties(lookup: ComponentLookup) -> None:
    data = toy()
    data["initiator"]["party_id"] = 9999
    assert_problem(error_of(data, lookup), "initiator.party_id", "party 9999 is not a guest", "parties.guest", "10000")


def test_duplicate_instance_name(lookup: ComponentLookup) -> None:
    data = pipeline()
    data["components"][2]["name"] = "reader_0"
    assert_problem(
        error_of(data, lookup),
        "components[2].name",
        "'reader_0' is already used by components[0]",
        "its own name",
    )


def test_unknown_component_type_lists_known_ones(lookup: ComponentLookup) -> None:
    data = toy()
    data["components"][0]["component"] = "toy_secure_summ"
    assert_problem(
        error_of(data, lookup),
        "components[0].component",
        "unknown component 'toy_secure_summ'",
        "toy_secure_sum",
    )


def test_unknown_component_type_with_the_real_registry() -> None:
    data = toy()
    data["components"][0]["component"] = "nope"
    known = ", ".join(component_names())
    assert "toy_secure_sum" in known
    assert_problem(error_of(data, get_component), "components[0].component", f"known components: {known}")


def test_role_the_component_type_does_not_support(lookup: ComponentLookup) -> None:
    data = toy()
    data["parties"]["arbiter"] = [10002]
    data["components"][0]["roles"] = ["guest", "host", "arbiter"]
    assert_problem(
        error_of(data, lookup),
        "components[0].roles[2]",
        "toy_secure_sum does not run as arbiter",
        "guest, host",
    )


def test_component_role_without_parties(lookup: ComponentLookup) -> None:
    data = pipeline()
    del data["parties"]["arbiter"]
    data["components"][2]["roles"] = ["guest", "arbiter"]
    assert_problem(error_of(data, lookup), "components[2].roles[1]", "no party plays arbiter", "add parties.arbiter")


def test_default_roles_with_no_parties(lookup: ComponentLookup) -> None:
    data = pipeline()
    data["parties"] = {"arbiter": [10002]}
    data["initiator"] = {"role": "arbiter", "party_id": 10002}
    data["components"] = [{"name": "toy_0", "component": "toy_secure_sum"}]
    assert_problem(error_of(data, lookup), "components[0].roles", "no parties play any role", "guest, host")


def test_role_params_for_a_role_the_component_does_not_run_as(lookup: ComponentLookup) -> None:
    data = pipeline()
    data["components"][1]["role_params"] = {"arbiter": {"curve": "x"}}
    assert_problem(
        error_of(data, lookup),
        "components[1].role_params.arbiter",
        "psi_0 does not run as arbiter",
        "remove these overrides",
    )


def test_unknown_param(lookup: ComponentLookup) -> None:
    data = toy()
    data["components"][0]["params"]["data_nums"] = 3
    assert_problem(
        error_of(data, lookup),
        "components[0].params.data_nums",
        "unknown param 'data_nums'",
        "data_num, partitions",
    )


def test_param_of_wrong_type(lookup: ComponentLookup) -> None:
    data = toy()
    data["components"][0]["params"]["partitions"] = "four"
    assert_problem(error_of(data, lookup), "components[0].params.partitions", "must be a valid integer", "'four'")


def test_param_out_of_range(lookup: ComponentLookup) -> None:
    data = toy()
    data["components"][0]["params"]["data_num"] = 0
    assert_problem(error_of(data, lookup), "components[0].params.data_num", "greater than or equal to 1", "got 0")


def test_missing_required_param(lookup: ComponentLookup) -> None:
    data = pipeline()
    data["components"][0]["params"] = {}
    assert_problem(error_of(data, lookup), "components[0].params.table", "missing", "add it under params")


def test_params_must_be_a_mapping(lookup: ComponentLookup) -> None:
    data = toy()
    data["components"][0]["params"] = None
    assert_problem(error_of(data, lookup), "components[0].params", "must be a mapping")


@pytest.mark.parametrize(
    ("override", "phrase"),
    [
        ({"partitions": 0}, "greater than or equal to 1"),
        ({"partitions": "two"}, "must be a valid integer"),
        ({"partition": 2}, "unknown param 'partition'"),
    ],
)
def test_bad_param_through_role_params(override: dict[str, Any], phrase: str, lookup: ComponentLookup) -> None:
    data = toy()
    data["components"][0]["role_params"] = {"host": override}
    path = f"components[0].role_params.host.{next(iter(override))}"
    message = error_of(data, lookup)
    assert_problem(message, path, phrase)
    assert len(message.splitlines()) == 1


def test_bad_common_param_is_reported_once_not_per_role(lookup: ComponentLookup) -> None:
    data = toy()
    data["components"][0]["params"]["data_num"] = -1
    assert len(error_of(data, lookup).splitlines()) == 1


def test_two_bad_params_are_reported_together(lookup: ComponentLookup) -> None:
    data = toy()
    data["components"][0]["params"] = {"data_num": 0, "partitions": 2000}
    message = error_of(data, lookup)
    assert_problem(message, "components[0].params.data_num", "greater than or equal to 1")
    assert_problem(message, "components[0].params.partitions", "less than or equal to 1024")


def test_unknown_input_slot(lookup: ComponentLookup) -> None:
    data = pipeline()
    data["components"][1]["inputs"]["train_data"] = "reader_0.data"
    assert_problem(
        error_of(data, lookup),
        "components[1].inputs.train_data",
        "psi has no input slot 'train_data'",
        "data",
    )


def test_input_on_a_component_without_inputs(lookup: ComponentLookup) -> None:
    data = toy()
    data["components"][0]["inputs"] = {"data": "secure_sum_0.data"}
    message = error_of(data, lookup)
    assert_problem(message, "components[0].inputs.data", "no input slot 'data'", "takes no inputs")
    assert len(message.splitlines()) == 1  # the reference of a wrong slot adds nothing


def test_required_input_left_unwired(lookup: ComponentLookup) -> None:
    data = pipeline()
    data["components"][2]["inputs"] = {}
    assert_problem(error_of(data, lookup), "components[2].inputs.train_data", "not wired", "train_data: <instance>")


def test_reference_to_an_unknown_instance(lookup: ComponentLookup) -> None:
    data = pipeline()
    data["components"][1]["inputs"]["data"] = "reader_9.data"
    assert_problem(
        error_of(data, lookup),
        "components[1].inputs.data",
        "no component instance named 'reader_9'",
        "reader_0, psi_0, lr_0",
    )


def test_reference_to_an_output_the_type_does_not_declare(lookup: ComponentLookup) -> None:
    data = pipeline()
    data["components"][1]["inputs"]["data"] = "reader_0.model"
    assert_problem(
        error_of(data, lookup), "components[1].inputs.data", "reader_0 (reader) has no output 'model'", "data"
    )


def test_component_reading_its_own_output(lookup: ComponentLookup) -> None:
    data = pipeline()
    data["components"][1]["inputs"]["data"] = "psi_0.data"
    assert_problem(
        error_of(data, lookup), "components[1].inputs.data", "psi_0 reads its own output", "upstream instance"
    )


def test_two_component_cycle(lookup: ComponentLookup) -> None:
    data = pipeline()
    data["components"] = [
        {"name": "a", "component": "psi", "inputs": {"data": "b.data"}},
        {"name": "b", "component": "psi", "inputs": {"data": "a.data"}},
    ]
    assert_problem(error_of(data, lookup), "components", "cycle a -> b -> a", "rewire")


def test_longer_cycle_shows_its_whole_path(lookup: ComponentLookup) -> None:
    data = pipeline()
    data["components"] = [
        {"name": "reader_0", "component": "reader", "params": {"table": "t"}},
        {"name": "a", "component": "psi", "inputs": {"data": "c.data"}},
        {"name": "b", "component": "psi", "inputs": {"data": "a.data"}},
        {"name": "c", "component": "psi", "inputs": {"data": "b.data"}},
    ]
    assert_problem(error_of(data, lookup), "components", "cycle a -> b -> c -> a")


def test_dag_is_not_checked_while_references_are_broken(lookup: ComponentLookup) -> None:
    data = pipeline()
    data["components"] = [
        {"name": "a", "component": "psi", "inputs": {"data": "b.data"}},
        {"name": "b", "component": "psi", "inputs": {"data": "a.data"}},
        {"name": "c", "component": "psi", "inputs": {"data": "x.data"}},
    ]
    message = error_of(data, lookup)
    assert_problem(message, "components[2].inputs.data", "no component instance named 'x'")
    assert "cycle" not in message


def test_independent_problems_are_collected(lookup: ComponentLookup) -> None:
    data = pipeline()
    data["initiator"]["party_id"] = 1
    data["components"][0]["params"] = {"table": 3}
    data["components"][2]["inputs"] = {}
    message = error_of(data, lookup)
    assert len(message.splitlines()) == 3
    assert_problem(message, "initiator.party_id", "not a guest")
    assert_problem(message, "components[0].params.table", "valid string")
    assert_problem(message, "components[2].inputs.train_data", "not wired")


# --- files and text --------------------------------------------------------------------------------------


def test_yaml_syntax_error_in_a_file_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("name: toy\nparties: [10000\ninitiator: {}\n", encoding="utf-8")
    with pytest.raises(JobConfigError) as caught:
        load_job_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:3:")
    assert "YAML syntax error" in message
    assert "line 3, column" in message


def test_yaml_syntax_error_in_text_gives_line_and_column() -> None:
    with pytest.raises(JobConfigError, match=r"YAML syntax error.*line 2, column 6"):
        loads_job_config("name: toy\nbad: : x\n")


def test_json_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text('{\n  "name": "toy",\n  "parties": }\n', encoding="utf-8")
    with pytest.raises(JobConfigError) as caught:
        load_job_config(path)
    assert str(caught.value).startswith(f"{path}:3:14: JSON syntax error")


def test_file_not_found_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(JobConfigError) as caught:
        load_job_config(path)
    assert str(caught.value) == f"{path}: file not found; check the path"


def test_directory_instead_of_a_file(tmp_path: Path) -> None:
    with pytest.raises(JobConfigError, match="is a directory"):
        load_job_config(tmp_path)


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "job.toml"
    path.write_text("name = 'toy'\n", encoding="utf-8")
    with pytest.raises(JobConfigError, match=r"unsupported file type '\.toml'; use \.yaml, \.yml or \.json"):
        load_job_config(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(JobConfigError, match="job config: empty"):
        load_job_config(path)


def test_duplicate_yaml_key_is_refused() -> None:
    text = "name: toy\nname: other\n"
    with pytest.raises(JobConfigError, match=r"duplicate key 'name'.*line 2, column 1"):
        loads_job_config(text)


def test_duplicate_json_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text('{"name": "a", "name": "b"}', encoding="utf-8")
    with pytest.raises(JobConfigError, match="duplicate key 'name'"):
        load_job_config(path)


def test_validation_error_from_a_file_records_the_file(tmp_path: Path) -> None:
    data = toy()
    data["timeout_s"] = 0
    path = tmp_path / "job.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(JobConfigError) as caught:
        load_job_config(path)
    assert caught.value.source == str(path)
    assert caught.value.problems[0].startswith("timeout_s:")


def test_yaml_anchors_and_merge_keys_still_work() -> None:
    text = """
defaults: &defaults {data_num: 10}
"""
    # an unknown top-level key, but the merge-key machinery must not be mistaken for a duplicate key
    merged = """
initiator: {role: guest, party_id: 10000}
parties: {guest: [10000], host: [10000]}
components:
  - name: secure_sum_0
    component: toy_secure_sum
    params: &common {data_num: 10, partitions: 2}
    role_params:
      host: {<<: *common, partitions: 3}
"""
    with pytest.raises(JobConfigError, match="unknown key 'defaults'"):
        loads_job_config(text)
    config = loads_job_config(merged)
    assert config.params_for("secure_sum_0", Role.HOST).model_dump() == {"data_num": 10, "partitions": 3}


def test_error_keeps_problems_as_a_list() -> None:
    err = JobConfigError(["a: one", "b: two"])
    assert err.problems == ["a: one", "b: two"]
    assert str(err) == "a: one\nb: two"
    assert isinstance(err, ValueError)


def test_parse_does_not_change_its_input(lookup: ComponentLookup) -> None:
    data = pipeline()
    before = copy.deepcopy(data)
    parse_job_config(data, lookup)
    assert data == before


# --- the user documentation stays true ------------------------------------------------------------------


def doc_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_doc_examples_parse(lookup: ComponentLookup) -> None:
    yaml_blocks = doc_blocks("yaml")
    toy_doc = loads_job_config(yaml_blocks[0], lookup)
    assert toy_doc == load_job_config(EXAMPLES / "toy" / "job.yaml", lookup)
    multi = next(block for block in yaml_blocks if block.startswith("name: vertical-lr"))
    (multi_json,) = doc_blocks("json")
    config = loads_job_config(multi, lookup)
    assert loads_job_config(multi_json, lookup) == config
    assert [c.name for c in config.topological_order()] == ["reader_0", "psi_0", "lr_0"]
    assert config.params_for("reader_0", Role.HOST, lookup) == ReaderParams(table="bank.host")


# --- bounds on size and nesting: every reader refuses before anything recurses ---------------------------

_DEEP = 3000
_TOO_DEEP = "nested deeper than 32 levels of mappings and lists"


def _deep_yaml_params() -> str:
    nested = "{a: " * _DEEP + "1" + "}" * _DEEP
    return (
        "initiator: {role: guest, party_id: 10000}\nparties: {guest: [10000]}\n"
        f"components:\n  - {{name: r, component: reader, params: {{table: t, x: {nested}}}}}\n"
    )


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_deeply_nested_file_gets_one_clear_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"job{suffix}"
    path.write_text(_deep_yaml_params() if suffix == ".yaml" else "[" * _DEEP + "]" * _DEEP, encoding="utf-8")
    with pytest.raises(JobConfigError) as caught:
        load_job_config(path, FAKES.__getitem__)
    assert caught.value.problems == [f"{path}: {_TOO_DEEP}; a job config needs far fewer: flatten the params"]


def test_deep_nesting_is_refused_in_text_and_in_a_mapping() -> None:
    with pytest.raises(JobConfigError, match=_TOO_DEEP):
        loads_job_config(_deep_yaml_params(), FAKES.__getitem__)
    with pytest.raises(JobConfigError, match=_TOO_DEEP):
        loads_job_config("[" * _DEEP + "]" * _DEEP, FAKES.__getitem__, syntax="json")
    data: dict[str, Any] = {}
    inner = data
    for _ in range(_DEEP):
        inner["a"] = {}
        inner = inner["a"]
    with pytest.raises(JobConfigError, match=_TOO_DEEP):
        parse_job_config(data, FAKES.__getitem__)


def test_a_self_referencing_alias_is_refused_as_too_deep() -> None:
    with pytest.raises(JobConfigError, match=_TOO_DEEP):
        loads_job_config("a: &a [*a]\n", FAKES.__getitem__)


def test_aliases_that_multiply_are_counted_at_each_use() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]  # 10^9 values once expanded
    with pytest.raises(JobConfigError, match="holds more than 100000 values"):
        loads_job_config("\n".join(lines) + "\n", FAKES.__getitem__)


def test_nesting_within_the_bound_is_read() -> None:
    config = toy()
    nested: dict[str, Any] = {}
    inner = nested
    for _ in range(25):
        inner["a"] = {}
        inner = inner["a"]
    config["components"][0]["params"]["extra"] = nested
    with pytest.raises(JobConfigError) as caught:
        parse_job_config(config)
    assert caught.value.problems == [
        "components[0].params.extra: unknown param 'extra' for toy_secure_sum; remove it or use one of: data_num, "
        "partitions"
    ]


def test_an_oversized_config_is_refused_before_parsing(tmp_path: Path) -> None:
    with pytest.raises(JobConfigError, match="more than the 1048576 a job config may have"):
        loads_job_config("#" * (1024 * 1024 + 1), FAKES.__getitem__)
    path = tmp_path / "job.yaml"
    path.write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    with pytest.raises(JobConfigError, match="larger than 4194304 bytes"):
        load_job_config(path, FAKES.__getitem__)


def test_hostile_keys_and_values_are_shown_escaped_and_bounded() -> None:
    """A problem is logged by the node that refuses a proposal: no raw newline, no 100 KB value in it."""
    config = {
        "initiator": {"role": "guest\nFORGED", "party_id": 1},
        "parties": {"guest": [1]},
        "components": [{"name": "x" * 100_000, "component": "c", "inputs": {"s\nFORGED": "a.b"}, "k\nFORGED": 1}],
    }
    with pytest.raises(JobConfigError) as caught:
        parse_job_config(config)
    text = "\n".join(caught.value.problems)
    assert "\nFORGED" not in text
    assert "x" * 100 not in text
    assert "components[0].inputs.'s\\nFORGED': bad slot name" in text


def test_the_benchmark_components_run_only_where_the_operator_plugged_them_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """Otherwise any partner could make a node spend its CPU on benchmarks: a proposal naming one is refused."""
    monkeypatch.delenv("UNSEEN_COMPONENTS", raising=False)
    for name in ("bench_horizontal", "bench_transfer"):
        assert name not in component_names()
        with pytest.raises(UnknownComponentError, match=f"unknown component '{name}'; known components: evaluation"):
            get_component(name)
    monkeypatch.setenv("UNSEEN_COMPONENTS", ",".join(BENCHMARK_MODULES))
    assert {"bench_horizontal", "bench_transfer"} <= set(component_names())
    assert get_component("bench_horizontal").name == "bench_horizontal"

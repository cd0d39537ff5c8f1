"""Job configs: the models, reading them from YAML or JSON, and every check a job must pass before it runs.

A job config is checked once, at the initiator's node, before any other party is asked to take part, so
every mistake a user can make has to be caught here and reported in the user's own terms: the field path as
written in the file (``components[1].inputs.data``) and what to change. Pydantic errors are therefore
translated, never shown raw.

Checking happens in stages, and each stage runs only when the previous one found nothing, because later
stages would otherwise report confusing consequences of earlier mistakes:

1. structure: the pydantic models (types, names, party ids, ranges); everything they find is reported;
2. meaning: initiator, component types and roles, params, input slots and references, all collected;
3. the DAG: cycles, which can only be named once every reference points at a real instance.

Component types are looked up through an injectable ``lookup`` (the registry by default) so that the
validator never needs to import a component's heavy dependencies and tests can supply their own types.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from unseen import ids
from unseen.components.registry import UnknownComponentError, get_component
from unseen.components.spec import ComponentSpec
from unseen.runtime.parties import PartyRef, Role

__all__ = [
    "ComponentConfig",
    "ComponentLookup",
    "InitiatorConfig",
    "JobConfig",
    "JobConfigError",
    "load_job_config",
    "loads_job_config",
    "loads_job_config_json",
    "parse_job_config",
]

ComponentLookup = Callable[[str], ComponentSpec]
"""Finds a component type by name; raises ``UnknownComponentError``, listing the known types, if none."""

MAX_CONFIG_CHARS = 1024 * 1024
"""The longest job config text read from a file, a request or a peer's proposal."""
MAX_DEPTH = 32
"""The deepest nesting of mappings and lists a job config may have; the top-level mapping is level 1."""
MAX_VALUES = 100_000
"""The most values (mapping keys and values, list items) a job config may hold, counting a YAML alias at each
place it is used, so a few lines of aliases cannot stand for billions of values."""

TIMEOUT_MIN_S = 1
TIMEOUT_MAX_S = 604_800
TIMEOUT_DEFAULT_S = 3600
NAME_MAX_CHARS = 128

_INSTANCE_NAME = ids.COMPONENT.pattern
_SLOT_NAME = ids.SLOT.pattern
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_ROLE_NAMES = ", ".join(role.value for role in Role)
_SUFFIXES = (".yaml", ".yml", ".json")


class JobConfigError(ValueError):
    """Everything wrong with a job config, one problem per line, so the user can fix all of it in one go.

    ``source`` names the file the config came from, when it came from one.
    """

    def __init__(self, problems: Sequence[str], source: str | None = None) -> None:
        self.problems: list[str] = list(problems)
        self.source = source
        super().__init__("\n".join(self.problems))


# --- field types: each raises a message that already says the fix --------------------------------------


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("unseen", message)


def _role(value: object) -> Role:
    if isinstance(value, str):
        try:
            return Role(value)
        except ValueError:
            pass
    raise _fail(f"unknown role {ids.safe(value)}; use one of {_ROLE_NAMES}")


def _party_id(value: object) -> int:
    # bool is an int to Python, and lax int parsing would accept "10000" or 1.0: a party id must be written
    # as a plain integer, because a quoted id is usually a sign the wrong field was filled in.
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise _fail(f"party id must be a positive integer such as 10000, got {ids.safe(value)}")


def _party_ids(ids: list[int]) -> list[int]:
    if not ids:
        raise _fail("no party ids; list at least one (e.g. [10000]) or remove this role")
    seen: set[int] = set()
    for party_id in ids:
        if party_id in seen:
            raise _fail(f"party {party_id} is listed twice; list each party once per role")
        seen.add(party_id)
    return ids


def _role_list(roles: list[Role]) -> list[Role]:
    if not roles:
        raise _fail("empty; list the roles this component runs as, or leave roles out for the default")
    if len(set(roles)) != len(roles):
        raise _fail("a role is listed twice; list each role once")
    return roles


def _instance_name(name: str) -> str:
    if not _INSTANCE_NAME.fullmatch(name):
        raise _fail(
            f"bad instance name {ids.safe(name)}; use 1 to 64 lowercase letters, digits and underscores, "
            "starting with a letter (e.g. reader_0)"
        )
    return name


def _slot_name(name: str) -> str:
    if not _SLOT_NAME.fullmatch(name):
        raise _fail(f"bad slot name {ids.safe(name)}; {ids.SLOT.rule} (e.g. data)")
    return name


def _input_ref(ref: str) -> str:
    instance, dot, slot = ref.partition(".")
    if not (dot and _INSTANCE_NAME.fullmatch(instance) and _SLOT_NAME.fullmatch(slot)):
        raise _fail(f"{ids.safe(ref)} is not a reference; write <instance>.<output slot>, e.g. reader_0.data")
    return ref


def _timeout(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and TIMEOUT_MIN_S <= value <= TIMEOUT_MAX_S:
        return value
    raise _fail(
        f"must be a whole number of seconds from {TIMEOUT_MIN_S} to {TIMEOUT_MAX_S} (7 days), got {value!r}; "
        f"leave it out for the default of {TIMEOUT_DEFAULT_S}"
    )


def _components(components: list[ComponentConfig]) -> list[ComponentConfig]:
    if not components:
        raise _fail("empty; add at least one component (name, component, params)")
    return components


RoleName = Annotated[Role, BeforeValidator(_role)]
PartyId = Annotated[int, BeforeValidator(_party_id)]
PartyIds = Annotated[list[PartyId], AfterValidator(_party_ids)]
InstanceName = Annotated[str, AfterValidator(_instance_name)]
InputRef = Annotated[str, AfterValidator(_input_ref)]
SlotName = Annotated[str, AfterValidator(_slot_name)]


# --- the models ------------------------------------------------------------------------------------------


class InitiatorConfig(BaseModel):
    """The party that submits the job and drives its DAG, in the role it plays there."""

    model_config = ConfigDict(extra="forbid")

    role: RoleName
    party_id: PartyId

    def ref(self) -> PartyRef:
        return PartyRef(self.role, self.party_id)


class ComponentConfig(BaseModel):
    """One instance of a component type in the job's DAG.

    ``roles`` is ``None`` only before :func:`parse_job_config` has filled in the default, so that what a node
    records and runs names its roles explicitly.
    """

    model_config = ConfigDict(extra="forbid")

    name: InstanceName
    component: str
    roles: Annotated[list[RoleName], AfterValidator(_role_list)] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    role_params: dict[RoleName, dict[str, Any]] = Field(default_factory=dict)
    inputs: dict[SlotName, InputRef] = Field(default_factory=dict)

    def producers(self) -> list[str]:
        """Instances this one reads from, once each, in the order its inputs name them."""
        return list(dict.fromkeys(ref.partition(".")[0] for ref in self.inputs.values()))

    def merged_params(self, role: Role | None) -> dict[str, Any]:
        """Common params with the role's overrides on top (a shallow merge: top-level keys replace)."""
        overrides = self.role_params.get(role, {}) if role is not None else {}
        return {**self.params, **overrides}


class JobConfig(BaseModel):
    """A validated job: who takes part, in which roles, and the DAG of component instances they run.

    Build it with :func:`parse_job_config` (or the loaders); the model alone checks each field but not how
    fields relate to each other or to the component types, and the methods below assume both were checked.
    """

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=NAME_MAX_CHARS)] | None = None
    initiator: InitiatorConfig
    parties: dict[RoleName, PartyIds]
    timeout_s: Annotated[int, BeforeValidator(_timeout)] = TIMEOUT_DEFAULT_S
    components: Annotated[list[ComponentConfig], AfterValidator(_components)]

    def participants(self) -> list[PartyRef]:
        """Every (role, party) pair of the job, sorted and unique: the tasks' addresses, not the nodes."""
        return sorted({PartyRef(role, party_id) for role, ids in self.parties.items() for party_id in ids})

    def parties_of(self, role: Role) -> list[int]:
        return list(self.parties.get(Role(role), []))

    def component(self, name: str) -> ComponentConfig:
        for component in self.components:
            if component.name == name:
                return component
        known = ", ".join(c.name for c in self.components)
        raise KeyError(f"no component instance named {name!r} in this job; instances: {known}")

    def upstream(self, name: str) -> list[str]:
        """Instances whose outputs ``name`` reads, in file order (the order the scheduler considers them)."""
        producers = set(self.component(name).producers())
        return [c.name for c in self.components if c.name in producers]

    def topological_order(self) -> list[ComponentConfig]:
        """Components in an order that runs every producer before its consumers.

        Among components that are ready at the same time the one written first comes first, so the order
        is the same on every node and in every run.
        """
        index = {c.name: i for i, c in enumerate(self.components)}
        waiting_on = {c.name: set(c.producers()) for c in self.components}
        ready = [index[name] for name, producers in waiting_on.items() if not producers]
        heapq.heapify(ready)
        order: list[ComponentConfig] = []
        while ready:
            done = self.components[heapq.heappop(ready)]
            order.append(done)
            for name, producers in waiting_on.items():
                if done.name in producers:
                    producers.discard(done.name)
                    if not producers:
                        heapq.heappush(ready, index[name])
        if len(order) != len(self.components):  # only a config that skipped parse_job_config gets here
            unresolved = ["components: inputs name unknown instances; build the config with parse_job_config"]
            raise JobConfigError(_dag_problems(self) or unresolved)
        return order

    def participants_of(self, component_name: str) -> list[PartyRef]:
        """Every (role, party) that runs a task for this component: all parties of each of its roles."""
        component = self.component(component_name)
        return sorted(
            PartyRef(role, party_id) for role in _resolved_roles(component) for party_id in self.parties_of(role)
        )

    def params_for(self, component_name: str, role: Role, lookup: ComponentLookup = get_component) -> BaseModel:
        """The params one role's task runs with: common params, the role's overrides, validated."""
        component = self.component(component_name)
        role = Role(role)
        if role not in _resolved_roles(component):
            raise JobConfigError([f"{component_name} does not run as {role} in this job"])
        spec = lookup(component.component)
        index = self.components.index(component)
        try:
            return spec.params.model_validate(component.merged_params(role))
        except ValidationError as error:
            raise JobConfigError(_param_problems(error, index, component, role, spec)) from None

    def to_json(self) -> str:
        """The config as JSON that :func:`parse_job_config` reads back to an equal config."""
        return self.model_dump_json(indent=2, exclude_none=True)


def _resolved_roles(component: ComponentConfig) -> list[Role]:
    if component.roles is None:
        raise JobConfigError([f"{component.name}: roles not resolved; build the config with parse_job_config"])
    return component.roles


# --- turning pydantic errors into problems ------------------------------------------------------------------

_Loc = tuple[int | str, ...]

_MISSING_HINTS: dict[tuple[str, ...], str] = {
    ("initiator",): "add `initiator: {role: guest, party_id: <id>}` naming the party that starts the job",
    ("initiator", "role"): f"add the role the initiator plays ({_ROLE_NAMES})",
    ("initiator", "party_id"): "add the initiator's party id, e.g. party_id: 10000",
    ("parties",): "add `parties:` mapping each role to its party ids, e.g. `guest: [10000]`",
    ("components",): "add `components:` with at least one component",
    ("components", "name"): "add an instance name, e.g. name: secure_sum_0",
    ("components", "component"): "add the component type, e.g. component: toy_secure_sum",
}


def _path(loc: Iterable[int | str]) -> str:
    """A pydantic location as the user would point at it in the file: ``components[1].inputs.data``."""
    path = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for an error in a mapping's key rather than its value
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            key = part if _PLAIN_KEY.fullmatch(part) else ids.safe(part)  # a key from the file, maybe hostile
            path += f".{key}" if path else key
    return path or "job config"


def _readable(error: ErrorDetails) -> str:
    """Pydantic's own message, reworded as an instruction, with the offending value when it is short."""
    kind = error["type"]
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        message = "must be a mapping of keys to values"
    elif kind == "list_type":
        message = "must be a list"
    else:
        message = error["msg"].removeprefix("Value error, ")
        for prefix in ("Input should", "String should", "List should", "Dictionary should", "Value should"):
            if message.startswith(prefix):
                message = "must" + message.removeprefix(prefix)
    value = error.get("input")
    if isinstance(value, str | int | float | bool) and len(repr(value)) <= 60:
        message += f", got {value!r}"
    return message


def _allowed_keys(parent: _Loc) -> str:
    keys_of: dict[tuple[str, ...], type[BaseModel]] = {
        (): JobConfig,
        ("initiator",): InitiatorConfig,
        ("components",): ComponentConfig,
    }
    model = keys_of.get(tuple(p for p in parent if isinstance(p, str)))
    return ", ".join(model.model_fields) if model else "see docs/job-config.md"


def _structure_problem(error: ErrorDetails) -> str:
    loc = error["loc"]
    path = _path(loc)
    kind = error["type"]
    if kind == "unseen":
        return f"{path}: {error['msg']}"
    if kind == "extra_forbidden":
        return (
            f"{path}: unknown key {ids.safe(loc[-1])}; remove it or fix its spelling "
            f"(allowed here: {_allowed_keys(loc[:-1])})"
        )
    if kind == "missing":
        hint = _MISSING_HINTS.get(tuple(p for p in loc if isinstance(p, str)), "add it")
        return f"{path}: missing; {hint}"
    return f"{path}: {_readable(error)}"


def _param_problems(
    error: ValidationError, index: int, component: ComponentConfig, role: Role | None, spec: ComponentSpec
) -> list[str]:
    """Params errors, each placed where the user wrote the value: under params or under role_params."""
    overrides = component.role_params.get(role, {}) if role is not None else {}
    known = ", ".join(spec.params.model_fields) or "none"
    problems = []
    for detail in error.errors():
        loc = detail["loc"]
        if role is not None and loc and loc[0] in overrides:
            base: _Loc = ("components", index, "role_params", role.value)
        else:
            base = ("components", index, "params")
        path = _path(base + loc)
        if detail["type"] == "extra_forbidden":
            problems.append(
                f"{path}: unknown param {ids.safe(loc[-1])} for {spec.name}; remove it or use one of: {known}"
            )
        elif detail["type"] == "missing":
            problems.append(
                f"{path}: missing; {spec.name} requires it: add it under params (or under role_params for every role)"
            )
        else:
            problems.append(f"{path}: {_readable(detail)}")
    return problems


# --- the checks ---------------------------------------------------------------------------------------------


def _parse_structure(data: object) -> JobConfig:
    if data is None:
        raise JobConfigError(["job config: empty; write the keys initiator, parties and components"])
    if not isinstance(data, Mapping):
        raise JobConfigError(
            [
                f"job config: must be a mapping with the keys initiator, parties and components, "
                f"got {type(data).__name__}"
            ]
        )
    try:
        return JobConfig.model_validate(dict(data))
    except ValidationError as error:
        raise JobConfigError([_structure_problem(e) for e in error.errors()]) from None


def _initiator_problems(config: JobConfig) -> list[str]:
    role, party_id = config.initiator.role, config.initiator.party_id
    if role not in config.parties:
        listed = ", ".join(r.value for r in config.parties)
        return [
            f"initiator.role: no party plays {role} in this job; add the initiator under parties.{role} "
            f"or use a role listed under parties ({listed})"
        ]
    ids = config.parties[role]
    if party_id not in ids:
        return [
            f"initiator.party_id: party {party_id} is not a {role} in this job; add it to parties.{role} "
            f"or use one of {', '.join(map(str, ids))}"
        ]
    return []


def _duplicate_name_problems(config: JobConfig) -> list[str]:
    first: dict[str, int] = {}
    problems = []
    for i, component in enumerate(config.components):
        if component.name in first:
            problems.append(
                f"components[{i}].name: instance name {component.name!r} is already used by "
                f"components[{first[component.name]}]; give each instance its own name"
            )
        else:
            first[component.name] = i
    return problems


def _lookup_specs(config: JobConfig, lookup: ComponentLookup) -> tuple[dict[str, ComponentSpec], list[str]]:
    specs: dict[str, ComponentSpec] = {}
    problems = []
    for i, component in enumerate(config.components):
        if component.component in specs:
            continue
        try:
            specs[component.component] = lookup(component.component)
        except UnknownComponentError as error:
            problems.append(f"components[{i}].component: {error}; fix the component type")
    return specs, problems


def _resolve_roles(
    config: JobConfig, index: int, component: ComponentConfig, spec: ComponentSpec | None
) -> tuple[list[Role], list[str]]:
    """The roles the component runs as, and what is wrong with them.

    Left out, roles default to those the type supports that have parties in this job: the common case of a
    component run by everyone able to run it.
    """
    where = f"components[{index}].roles"
    if component.roles is None:
        if spec is None:
            return [], []
        roles = [role for role in Role if role in spec.roles and role in config.parties]
        if not roles:
            supported = ", ".join(r.value for r in Role if r in spec.roles)
            return [], [
                f"{where}: no parties play any role {spec.name} runs as ({supported}); "
                f"add parties for one of them under parties"
            ]
        return roles, []
    valid, problems = [], []
    for j, role in enumerate(component.roles):
        if spec is not None and role not in spec.roles:
            supported = ", ".join(r.value for r in Role if r in spec.roles)
            problems.append(f"{where}[{j}]: {spec.name} does not run as {role}; use one of {supported}")
        elif role not in config.parties:
            problems.append(
                f"{where}[{j}]: no party plays {role} in this job; add parties.{role} or remove it from roles"
            )
        else:
            valid.append(role)
    return valid, problems


def _role_params_problems(index: int, component: ComponentConfig, roles: list[Role]) -> list[str]:
    return [
        f"components[{index}].role_params.{role}: {component.name} does not run as {role} in this job; "
        f"remove these overrides or add {role} to roles"
        for role in component.role_params
        if role not in (component.roles or roles)
    ]


def _params_problems(index: int, component: ComponentConfig, spec: ComponentSpec, roles: list[Role]) -> list[str]:
    """Validate params as each role's task will see them; a mistake in common params is reported once."""
    problems: dict[str, None] = {}
    checked: list[Role | None] = [*roles] or [None]
    for role in checked:
        try:
            spec.params.model_validate(component.merged_params(role))
        except ValidationError as error:
            problems.update(dict.fromkeys(_param_problems(error, index, component, role, spec)))
    return list(problems)


def _input_slot_problems(index: int, component: ComponentConfig, spec: ComponentSpec) -> list[str]:
    where = f"components[{index}].inputs"
    fix = f"use one of: {', '.join(spec.inputs)}" if spec.inputs else f"{spec.name} takes no inputs"
    problems = [
        f"{where}.{slot}: {spec.name} has no input slot {slot!r}; remove it ({fix})"
        for slot in component.inputs
        if slot not in spec.inputs
    ]
    problems += [
        f"{where}.{slot}: required input is not wired; add `{slot}: <instance>.<output slot>`"
        for slot in spec.inputs
        if slot not in component.inputs and slot not in spec.optional_inputs
    ]
    return problems


def _reference_problem(
    where: str, component: ComponentConfig, ref: str, types: Mapping[str, str], spec: ComponentSpec | None
) -> str | None:
    """What is wrong with one ``<instance>.<output slot>`` reference, given the instance's type spec."""
    instance, _, output = ref.partition(".")
    if instance == component.name:
        return (
            f"{where}: {component.name} reads its own output {ref!r}; a component cannot consume itself, "
            "wire the input to an upstream instance"
        )
    if instance not in types:
        return f"{where}: no component instance named {instance!r} in this job; use one of: {', '.join(types)}"
    if spec is not None and output not in spec.outputs:
        fix = f"its outputs are: {', '.join(spec.outputs)}" if spec.outputs else "it has no outputs"
        return f"{where}: {instance} ({spec.name}) has no output {output!r}; {fix}"
    return None


def _reference_problems(
    index: int, component: ComponentConfig, config: JobConfig, specs: Mapping[str, ComponentSpec]
) -> list[str]:
    own_spec = specs.get(component.component)
    types: dict[str, str] = {}
    for other in config.components:
        types.setdefault(other.name, other.component)  # a duplicated name is reported elsewhere
    problems = []
    for slot, ref in component.inputs.items():
        if own_spec is not None and slot not in own_spec.inputs:
            continue  # the slot itself is wrong; its reference would only add noise
        instance = ref.partition(".")[0]
        problem = _reference_problem(
            f"components[{index}].inputs.{slot}", component, ref, types, specs.get(types.get(instance, ""))
        )
        if problem is not None:
            problems.append(problem)
    return problems


def _find_cycle(config: JobConfig) -> list[str] | None:
    """A cycle in the producer-to-consumer graph as a path that ends where it starts, or None."""
    consumers: dict[str, list[str]] = {c.name: [] for c in config.components}
    for component in config.components:
        for producer in component.producers():
            consumers.setdefault(producer, []).append(component.name)
    state = dict.fromkeys(consumers, 0)  # 0 unseen, 1 on the current path, 2 finished
    for start, first_consumers in consumers.items():
        if state[start]:
            continue
        path, pending = [start], [iter(first_consumers)]
        state[start] = 1
        while pending:  # iterative depth-first search: a long chain must not hit the recursion limit
            nxt = next(pending[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                pending.pop()
            elif state[nxt] == 1:
                return [*path[path.index(nxt) :], nxt]
            elif state[nxt] == 0:
                state[nxt] = 1
                path.append(nxt)
                pending.append(iter(consumers[nxt]))
    return None


def _dag_problems(config: JobConfig) -> list[str]:
    cycle = _find_cycle(config)
    if cycle is None:
        return []
    return [
        f"components: dependency cycle {' -> '.join(cycle)} (arrows point from producer to consumer); "
        "rewire one of these inputs so that no component depends on its own output"
    ]


def _component_problems(
    config: JobConfig, specs: Mapping[str, ComponentSpec]
) -> tuple[list[ComponentConfig], list[str]]:
    """Check every instance, and return the instances with their roles filled in."""
    resolved, problems = [], []
    for i, component in enumerate(config.components):
        spec = specs.get(component.component)
        roles, role_problems = _resolve_roles(config, i, component, spec)
        problems += role_problems
        problems += _role_params_problems(i, component, roles)
        if spec is not None:
            problems += _params_problems(i, component, spec, roles)
            problems += _input_slot_problems(i, component, spec)
        problems += _reference_problems(i, component, config, specs)
        resolved.append(component.model_copy(update={"roles": roles}))
    return resolved, problems


def parse_job_config(data: Mapping[str, Any], lookup: ComponentLookup = get_component) -> JobConfig:
    """Validate a job config completely; raise :class:`JobConfigError` with every problem found.

    The returned config has each component's ``roles`` filled in, so what is stored and proposed to the
    other parties is explicit and does not depend on the defaults of the node that parsed it.
    """
    return _validate(data, lookup)


def _validate(data: object, lookup: ComponentLookup) -> JobConfig:
    # takes any document, not only a mapping: a file may hold a list or a bare string by mistake
    _check_bounds(data)
    config = _parse_structure(data)
    specs, problems = _lookup_specs(config, lookup)
    problems += _initiator_problems(config)
    problems += _duplicate_name_problems(config)
    resolved, component_problems = _component_problems(config, specs)
    problems += component_problems
    if problems:
        raise JobConfigError(problems)
    config = config.model_copy(update={"components": resolved})
    problems = _dag_problems(config)
    if problems:
        raise JobConfigError(problems)
    return config


# --- reading files and text ---------------------------------------------------------------------------------


def _too_deep(where: str) -> JobConfigError:
    return JobConfigError(
        [
            f"{where}: nested deeper than {MAX_DEPTH} levels of mappings and lists; "
            "a job config needs far fewer: flatten the params"
        ]
    )


def _check_bounds(data: object, where: str = "job config") -> None:
    """Refuse a document nested deeper than ``MAX_DEPTH`` or holding more than ``MAX_VALUES`` values.

    Every path into a job (a file, a REST body, the SDK, a peer's proposal) passes here before pydantic
    or ``json.dumps`` walks the document recursively. The walk is iterative and stops at the first bound
    it crosses, so a self-referencing YAML alias or a billion-laughs document costs at most ``MAX_VALUES``
    steps.
    """
    stack: list[tuple[object, int]] = [(data, 1)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: list[object] = [item for pair in value.items() for item in pair]
        elif isinstance(value, list | tuple):
            children = list(value)
        else:
            continue
        if depth > MAX_DEPTH:
            raise _too_deep(where)
        seen += len(children)
        if seen > MAX_VALUES:
            raise JobConfigError(
                [
                    f"{where}: holds more than {MAX_VALUES} values (YAML aliases count once per use); "
                    "a job config needs far fewer: keep data in tables, not in the config"
                ]
            )
        stack.extend((child, depth + 1) for child in children)


def _check_length(text: str, where: str) -> None:
    if len(text) > MAX_CONFIG_CHARS:
        raise JobConfigError(
            [f"{where}: {len(text)} characters, more than the {MAX_CONFIG_CHARS} a job config may have; shorten it"]
        )


class _TooDeepError(Exception):
    """Raised by the composer before Python's recursion limit is near; caught and reported by the reader."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key written twice in one mapping.

    Plain YAML keeps the last of two ``params:`` and silently drops the first, which is the kind of mistake
    a validator exists to catch.
    """

    def construct_mapping(self, node: yaml.nodes.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str | int | float | bool] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool):
                continue  # not a plain key: the base class reports what is wrong with it
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """PyYAML composes nested collections recursively: refuse depth before Python's stack runs out."""
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH + 1:  # one more than the bound, so _check_bounds names the problem
                raise _TooDeepError
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _yaml_document(text: str, where: str) -> object:
    _check_length(text, where)
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except _TooDeepError:
        raise _too_deep(where) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        position = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark else where
        line_col = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise JobConfigError(
            [f"{position}: YAML syntax error: {error.problem or error}; fix the YAML{line_col}"]
        ) from None
    except yaml.YAMLError as error:
        raise JobConfigError([f"{where}: YAML syntax error: {error}"]) from None
    except RecursionError:
        raise JobConfigError([f"{where}: nested too deeply to read; no job config needs that"]) from None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise ValueError(f"found duplicate key {key!r}; keep one")
    return dict(pairs)


def _json_document(text: str, where: str) -> object:
    _check_length(text, where)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except RecursionError:  # the C decoder stops cleanly at Python's recursion limit
        raise _too_deep(where) from None
    except json.JSONDecodeError as error:
        raise JobConfigError(
            [
                f"{where}:{error.lineno}:{error.colno}: JSON syntax error: {error.msg}; "
                f"fix the JSON at line {error.lineno}, column {error.colno}"
            ]
        ) from None
    except ValueError as error:
        raise JobConfigError([f"{where}: {error}"]) from None


def _read_text(path: Path) -> str:
    limit = 4 * MAX_CONFIG_CHARS  # a UTF-8 character is at most 4 bytes
    try:
        with path.open("rb") as handle:
            raw = handle.read(limit + 1)
        if len(raw) > limit:
            raise JobConfigError([f"{path}: larger than {limit} bytes, far more than a job config needs; shorten it"])
        return raw.decode("utf-8")
    except FileNotFoundError:
        raise JobConfigError([f"{path}: file not found; check the path"]) from None
    except IsADirectoryError:
        raise JobConfigError([f"{path}: is a directory; give the path of the job config file"]) from None
    except UnicodeDecodeError:
        raise JobConfigError([f"{path}: not UTF-8 text; save the job config as UTF-8"]) from None
    except OSError as error:
        raise JobConfigError([f"{path}: cannot read the file ({error.strerror}); check its permissions"]) from None


def load_job_config(path: Path | str, lookup: ComponentLookup = get_component) -> JobConfig:
    """Read and validate a job config file (.yaml, .yml or .json).

    Errors in reading or parsing the file name it in their message; validation errors keep the paths users
    write (``components[0].params``) and carry the file in ``JobConfigError.source`` for the caller to show.
    """
    path = Path(path)
    text = _read_text(path)
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise JobConfigError([f"{path}: unsupported file type {suffix!r}; use .yaml, .yml or .json"])
    data = _json_document(text, str(path)) if suffix == ".json" else _yaml_document(text, str(path))
    _check_bounds(data, str(path))
    try:
        return _validate(data, lookup)
    except JobConfigError as error:
        error.source = str(path)
        raise


def loads_job_config(
    text: str, lookup: ComponentLookup = get_component, syntax: Literal["yaml", "json"] = "yaml"
) -> JobConfig:
    """Validate a job config given as YAML or JSON text (YAML reads JSON too; ``json`` reads it faster)."""
    data = _json_document(text, "job config") if syntax == "json" else _yaml_document(text, "job config")
    return _validate(data, lookup)


def loads_job_config_json(text: str, lookup: ComponentLookup = get_component) -> JobConfig:
    """Validate a job config given as JSON text: what one node proposes to another (no YAML aliases or tags)."""
    return loads_job_config(text, lookup, syntax="json")

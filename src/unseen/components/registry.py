"""The catalogue of component types a node can run, by name.

Each entry is the module that defines ``SPEC``; modules are imported on first use so that validating a
job config never imports a heavy ML library the job does not use.
"""

from __future__ import annotations

import importlib

from unseen.components.spec import ComponentSpec

_MODULES: dict[str, str] = {
    "toy_secure_sum": "unseen.components.toy_secure_sum",
}


class UnknownComponentError(LookupError):
    """A job config names a component type this node does not have."""


def component_names() -> list[str]:
    return sorted(_MODULES)


def get_component(name: str) -> ComponentSpec:
    module_name = _MODULES.get(name)
    if module_name is None:
        known = ", ".join(component_names())
        raise UnknownComponentError(f"unknown component '{name}'; known components: {known}")
    spec = importlib.import_module(module_name).SPEC
    if not isinstance(spec, ComponentSpec) or spec.name != name:
        raise TypeError(f"module {module_name} does not define SPEC for component '{name}'")
    return spec

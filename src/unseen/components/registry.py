"""The catalogue of component types a node can run, by name.

Each entry is the module that defines ``SPEC``; modules are imported on first use so that validating a
job config never imports a heavy ML library the job does not use. Operators add their own components by
naming their modules in ``UNSEEN_COMPONENTS`` (comma-separated) in the node's environment; task processes
inherit it, so the node validates and runs them like built-in ones.

The benchmark components (``unseen.components.bench_horizontal``, ``unseen.components.bench_transfer``) ship
with the package but are not built in: otherwise any partner could make a node spend its CPU on them. The
benchmarks, and the test sites, name them in ``UNSEEN_COMPONENTS`` for the nodes they start.
"""

from __future__ import annotations

import importlib
import os

from unseen.components.spec import ComponentSpec
from unseen.ids import safe

EXTRA_COMPONENTS_ENV = "UNSEEN_COMPONENTS"
BENCHMARK_MODULES = ("unseen.components.bench_horizontal", "unseen.components.bench_transfer")

_BUILTIN: dict[str, str] = {
    "evaluation": "unseen.components.evaluation",
    "feature_scale": "unseen.components.feature_scale",
    "hetero_lr": "unseen.components.hetero_lr",
    "hetero_secureboost": "unseen.components.hetero_secureboost",
    "homo_nn": "unseen.components.homo_nn",
    "psi": "unseen.components.psi",
    "reader": "unseen.components.reader",
    "toy_secure_sum": "unseen.components.toy_secure_sum",
}


class UnknownComponentError(LookupError):
    """A job config names a component type this node does not have."""


def _extra_modules() -> dict[str, str]:
    """Plug-in components: each module named in UNSEEN_COMPONENTS, under the name its SPEC declares."""
    found: dict[str, str] = {}
    for module_name in filter(None, (m.strip() for m in os.environ.get(EXTRA_COMPONENTS_ENV, "").split(","))):
        spec = _load_spec(module_name)
        if spec.name in _BUILTIN:
            raise ValueError(f"{EXTRA_COMPONENTS_ENV}: module {module_name} redefines built-in component '{spec.name}'")
        found[spec.name] = module_name
    return found


def _load_spec(module_name: str) -> ComponentSpec:
    spec = getattr(importlib.import_module(module_name), "SPEC", None)
    if not isinstance(spec, ComponentSpec):
        raise TypeError(f"module {module_name} does not define SPEC = ComponentSpec(...)")
    return spec


def _modules() -> dict[str, str]:
    return {**_BUILTIN, **_extra_modules()}


def component_names() -> list[str]:
    return sorted(_modules())


def get_component(name: str) -> ComponentSpec:
    modules = _modules()
    module_name = modules.get(name)
    if module_name is None:
        raise UnknownComponentError(f"unknown component {safe(name)}; known components: {', '.join(sorted(modules))}")
    spec = _load_spec(module_name)
    if spec.name != name:
        raise TypeError(f"module {module_name} defines component '{spec.name}', not '{name}'")
    return spec

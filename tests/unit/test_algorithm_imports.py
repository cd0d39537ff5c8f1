"""Algorithms are free of storage and transport: importing every module of ``unseen.horizontal``,
``unseen.vertical`` and ``unseen.crypto`` loads none of SQLAlchemy, pyarrow, protobuf or gRPC."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN = ("sqlalchemy", "pyarrow", "google.protobuf", "grpc")

PROBE = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(module.name)
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("package", ["unseen.horizontal", "unseen.vertical", "unseen.crypto"])
def test_importing_an_algorithm_package_loads_no_storage_or_transport(package: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, package], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = json.loads(done.stdout)
    assert any(m.startswith(package + ".") for m in loaded)  # the probe did import the package's modules
    offending = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert offending == [], f"{package} loads {offending[:10]}"


def test_the_probe_would_see_a_forbidden_import() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "unseen.transport"], capture_output=True, text=True, timeout=120, check=True
    )
    assert "google.protobuf" in json.loads(done.stdout)

"""Tables through the CLI and REST: upload, list, show, delete, and refusals that lose nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import Site

pytestmark = pytest.mark.integration


@pytest.fixture
def guest_csv(tmp_path: Path) -> Path:
    path = tmp_path / "guest.csv"
    path.write_text("id,y,x0,x1\nu1,1,0.5,3\nu2,0,1.5,4\nu3,1,-2.0,5\n")
    return path


def test_upload_list_show_delete(site: Site, guest_csv: Path) -> None:
    up = site.cli("data", "upload", "-f", str(guest_csv), "-t", "exp.g1", "--label-column", "y", "-p", "9999")
    assert up.returncode == 0, up.stderr
    assert "uploaded exp.g1: 3 rows, 4 columns [id:string (id), y:int64 (label), x0:float64, x1:float64]" in up.stdout
    assert "exp.g1" in site.cli("data", "list", "-p", "9999").stdout
    assert "exp.g1" not in site.cli("data", "list", "-p", "10000").stdout  # a table stays at its own party
    assert "3 rows" in site.cli("data", "show", "-t", "exp.g1", "-p", "9999").stdout
    assert site.cli("data", "delete", "-t", "exp.g1", "-p", "9999").returncode == 0
    gone = site.cli("data", "show", "-t", "exp.g1", "-p", "9999")
    assert gone.returncode == 1 and "does not exist at this party" in gone.stderr


def test_a_refused_upload_leaves_the_stored_table_untouched(site: Site, guest_csv: Path, tmp_path: Path) -> None:
    assert site.cli("data", "upload", "-f", str(guest_csv), "-t", "exp.keep", "-p", "9999").returncode == 0
    before = site.cli("data", "show", "-t", "exp.keep", "-p", "9999").stdout

    again = site.cli("data", "upload", "-f", str(guest_csv), "-t", "exp.keep", "-p", "9999")
    assert again.returncode == 1 and "already exists; pass --overwrite" in again.stderr

    broken = tmp_path / "broken.csv"
    broken.write_text("id,x0\nu1,1\nu1,2\n")
    dup = site.cli("data", "upload", "-f", str(broken), "-t", "exp.keep", "--overwrite", "-p", "9999")
    assert dup.returncode == 1 and "duplicate ids" in dup.stderr
    assert site.cli("data", "show", "-t", "exp.keep", "-p", "9999").stdout == before

    missing = site.cli("data", "upload", "-f", str(tmp_path / "nope.csv"), "-t", "exp.keep", "-p", "9999")
    assert missing.returncode == 1 and "nope.csv not found" in missing.stderr
    bad_name = site.cli("data", "upload", "-f", str(guest_csv), "-t", "no_namespace", "-p", "9999")
    assert bad_name.returncode == 1 and "must be 'namespace.name'" in bad_name.stderr


def test_overwrite_replaces_a_table(site: Site, guest_csv: Path, tmp_path: Path) -> None:
    assert site.cli("data", "upload", "-f", str(guest_csv), "-t", "exp.ow", "-p", "9999").returncode == 0
    bigger = tmp_path / "bigger.csv"
    bigger.write_text("id,x0\n" + "".join(f"u{i},{i}\n" for i in range(10)))
    result = site.cli("data", "upload", "-f", str(bigger), "-t", "exp.ow", "--overwrite", "-p", "9999")
    assert result.returncode == 0 and "10 rows" in result.stdout

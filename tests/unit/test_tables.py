"""Tables at rest: Parquet round trips that keep id and label roles, atomic replacement, clear errors."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from unseen.storage.tables import Table, TableError, TableStore, parse_table_name


def sample() -> Table:
    return Table(
        {"id": np.array(["a", "b", "c"]), "y": np.array([1, 0, 1]), "x0": np.array([0.5, 1.5, -2.0])}, "id", "y"
    )


def test_a_table_round_trips_with_its_roles(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    info = store.write("exp.t", sample())
    assert info.rows == 3 and list(info.columns) == ["id", "y", "x0"]
    back = store.read("exp.t")
    assert back.id_column == "id" and back.label_column == "y"
    assert back.ids.tolist() == ["a", "b", "c"]
    assert back.feature_names == ["x0"]
    np.testing.assert_array_equal(back.features(), [[0.5], [1.5], [-2.0]])


def test_take_reorders_every_column_together() -> None:
    taken = sample().take(np.array([2, 0]))
    assert taken.ids.tolist() == ["c", "a"] and taken["y"].tolist() == [1, 1]


def test_a_plain_mapping_is_a_table_without_roles(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    store.write("exp.m", {"v": np.arange(4)})
    back = store.read("exp.m")
    assert back.id_column is None and back["v"].tolist() == [0, 1, 2, 3]


def test_existing_tables_are_not_replaced_unless_asked(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    store.write("exp.t", sample())
    with pytest.raises(TableError, match="already exists"):
        store.write("exp.t", sample())
    store.write("exp.t", {"v": np.arange(2)}, overwrite=True)
    assert store.read("exp.t").rows == 2


def test_a_failed_write_leaves_the_old_table_and_no_temporary_file(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    store.write("exp.t", sample())
    with mock.patch("pyarrow.parquet.write_table", side_effect=OSError("disk full")), pytest.raises(OSError):
        store.write("exp.t", {"v": np.arange(2)}, overwrite=True)
    assert store.read("exp.t").rows == 3
    assert [p.name for p in (tmp_path / "exp").iterdir()] == ["t.parquet"]


@pytest.mark.parametrize("name", ["nodot", "a.b.c", ".b", "a.", "a/b.c", "../x.y"])
def test_bad_table_names_are_refused(name: str) -> None:
    with pytest.raises(TableError, match=r"namespace\.name"):
        parse_table_name(name)


def test_inconsistent_tables_are_refused() -> None:
    with pytest.raises(TableError, match="differ in length"):
        Table({"a": np.arange(2), "b": np.arange(3)})
    with pytest.raises(TableError, match="label column 'y'"):
        Table({"a": np.arange(2)}, label_column="y")


def test_reading_a_missing_table_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(TableError, match="upload it first"):
        TableStore(tmp_path).read("exp.none")


def test_a_link_shares_the_file_and_keeps_its_version_when_the_source_is_replaced(tmp_path: Path) -> None:
    store = TableStore(tmp_path)
    store.write("data.big", {"x": np.arange(5)})
    info = store.link("data.big", "job_1.reader_0__data")
    assert info.rows == 5 and store.path("job_1.reader_0__data").stat().st_ino == store.path("data.big").stat().st_ino
    store.write("data.big", {"x": np.arange(3)}, overwrite=True)  # an upload replaces the file, never writes into it
    assert store.read("job_1.reader_0__data")["x"].tolist() == [0, 1, 2, 3, 4]
    assert store.read("data.big")["x"].tolist() == [0, 1, 2]
    assert not [p for p in (tmp_path / "job_1").iterdir() if p.name.startswith(".")]  # no staged file left
    with pytest.raises(TableError, match="does not exist"):
        store.link("data.missing", "job_1.other")

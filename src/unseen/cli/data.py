"""``unseen data upload|list|show|delete``: a party's own tables, at its own node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from unseen.cli.client import ClientError, client_for, fail
from unseen.datasets.criteo import DEFAULT_VOCAB_SIZE
from unseen.ids import IdentifierError, check_table_name

app = typer.Typer(help="Upload and inspect this party's tables (rows never leave the node).", no_args_is_help=True)

PartyOption = Annotated[int | None, typer.Option("--party", "-p", help="the party whose node stores the table")]


def _table_name(name: str) -> str:
    """The name, checked here first: a bad one would otherwise become a URL the node cannot route (404)."""
    try:
        check_table_name(name, "--table")
    except IdentifierError as exc:
        raise fail(str(exc)) from None
    return name


def _describe(table: dict[str, Any]) -> str:
    roles = {table["id_column"]: "id", table["label_column"]: "label"}
    columns = ", ".join(
        f"{c['name']}:{c['dtype']}" + (f" ({roles[c['name']]})" if c["name"] in roles else "") for c in table["columns"]
    )
    return f"{table['name']}: {table['rows']} rows, {len(table['columns'])} columns [{columns}]"


FORMATS = ("csv", "parquet", "cifar10-bin", "criteo-tsv")
RECORD_FORMATS = ("cifar10-bin", "criteo-tsv")
CHUNK_BYTES = 1024 * 1024
RECORD_UPLOAD_TIMEOUT = 3600.0  # the node answers once it has checked and stored every record of the file


def _chunks(file: Path) -> Iterator[bytes]:
    with file.open("rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            yield chunk


@app.command()
def upload(
    file: Annotated[
        Path, typer.Option("--file", "-f", help="a CSV (with a header row), Parquet, CIFAR-10 .bin or Criteo .tsv file")
    ],
    table: Annotated[str, typer.Option("--table", "-t", help="name to store it under: namespace.name")],
    id_column: Annotated[str, typer.Option(help="the column of row ids (used to align parties' rows)")] = "id",
    label_column: Annotated[str | None, typer.Option(help="the label column, if this party holds labels")] = None,
    label_type: Annotated[str, typer.Option(help="binary, multiclass or regression")] = "binary",
    overwrite: Annotated[bool, typer.Option(help="replace a table of the same name")] = False,
    file_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="csv, parquet, cifar10-bin (CIFAR-10 binary batch) or criteo-tsv; default: from the file's suffix",
        ),
    ] = None,
    vocab_size: Annotated[
        int, typer.Option(help="criteo-tsv: ids per categorical column (the DLRM embedding table size)")
    ] = DEFAULT_VOCAB_SIZE,
    party: PartyOption = None,
) -> None:
    """Store a file as a table at this party's node (docs/datasets.md: the CIFAR-10 and Criteo formats)."""
    _table_name(table)
    if not file.is_file():
        raise fail(f"file {file} not found; check the path (relative paths start from {Path.cwd()})")
    if label_type not in ("binary", "multiclass", "regression"):
        raise fail(f"--label-type must be binary, multiclass or regression, not '{label_type}'")
    if file_format is None:
        file_format = "parquet" if file.suffix.lower() in (".parquet", ".pq") else "csv"
    if file_format not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, not '{file_format}'")
    params: dict[str, Any] = {
        "id_column": id_column,
        "label_column": label_column,
        "label_type": label_type,
        "format": file_format,
        "overwrite": str(overwrite).lower(),
        "source": file.name,
    }
    try:
        if file_format in RECORD_FORMATS:  # streamed from disk: a Criteo day does not fit in memory
            created = client_for(party).put(
                f"/tables/{table}",
                _chunks(file),
                timeout=RECORD_UPLOAD_TIMEOUT,
                vocab_size=vocab_size if file_format == "criteo-tsv" else None,
                **params,
            )
        else:
            created = client_for(party).put(f"/tables/{table}", file.read_bytes(), **params)
    except ClientError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"uploaded {_describe(created)}")


@app.command("list")
def list_tables(party: PartyOption = None) -> None:
    """Tables stored at this party."""
    try:
        tables = client_for(party).get("/tables")
    except ClientError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{'table':<36}  {'rows':>9}  {'columns':>7}  {'id':<10}  label")
    for table in tables:
        typer.echo(
            f"{table['name']:<36}  {table['rows']:>9}  {len(table['columns']):>7}  "
            f"{table['id_column'] or '-':<10}  {table['label_column'] or '-'}"
        )


@app.command()
def show(table: Annotated[str, typer.Option("--table", "-t")], party: PartyOption = None) -> None:
    """A table's schema and size."""
    _table_name(table)
    try:
        typer.echo(_describe(client_for(party).get(f"/tables/{table}")))
    except ClientError as exc:
        raise fail(str(exc)) from None


@app.command()
def delete(table: Annotated[str, typer.Option("--table", "-t")], party: PartyOption = None) -> None:
    """Delete a table from this party's node."""
    _table_name(table)
    try:
        typer.echo(client_for(party).delete(f"/tables/{table}")["message"])
    except ClientError as exc:
        raise fail(str(exc)) from None

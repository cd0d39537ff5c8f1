"""``python -m unseen.node --config node.yaml``: run one party's node in the foreground."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from unseen.config.node import ConfigError, load_node_config
from unseen.node.allocator import keep_freed_memory
from unseen.node.private_files import make_private, sqlite_files
from unseen.node.server import Node, NodeStartError, configure_logging
from unseen.transport.tls import CertificateError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unseen.node")
    parser.add_argument("--config", "-c", type=Path, required=True, help="the node's node.yaml")
    args = parser.parse_args(argv)
    try:
        config = load_node_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log_file = config.home / "node.log"
    rotated = [log_file.with_name(f"{log_file.name}.{n}") for n in range(1, config.log_backups + 1)]
    make_private(config.home, [log_file, *rotated, *sqlite_files(config.db_url)])  # before anything is written
    configure_logging(log_file, config.log_max_bytes, config.log_backups)
    keep_freed_memory()
    try:
        Node(config).serve()
    except (NodeStartError, CertificateError) as exc:
        logging.getLogger("unseen.node").error("node cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The board: a web UI served by each node for its jobs, tasks, logs, metric charts and tables.

It is mounted on the node's FastAPI app (``unseen.board.web.mount_board``) and reads the node's own
database through its ``JobService`` and ``NodeStore``, so the board, the CLI and the REST API can never
disagree. Nothing is imported here, so that the CLI can use ``unseen.board.auth`` constants without
loading the web stack.
"""

"""The task socket's gRPC server: ``grpc.aio`` on an event loop of its own thread, beside the node's other servers.

A task's ``Recv`` may wait for minutes. On grpcio's synchronous server each waiting call held one of 64
threads, so 64 waiting tasks left none for anyone's send. Here a waiting ``Recv`` is a future on the loop;
only the blocking work (a send pushed on to a peer, a body copied into a receive file, metrics written to the
database) runs in a pool of ``threads``, and only while it works.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc

TASK_THREADS = 64


class TaskChannelServer:
    def __init__(self, socket_path: Path, options: list[tuple[str, Any]], threads: int = TASK_THREADS) -> None:
        self.socket_path = socket_path
        self.options = options
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="task")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="task-channel", daemon=True)
        self._server: grpc.aio.Server | None = None

    def start(self, handler: grpc.GenericRpcHandler) -> None:
        async def start() -> grpc.aio.Server:
            server = grpc.aio.server(options=self.options)
            server.add_generic_rpc_handlers((handler,))
            credentials = grpc.local_server_credentials(grpc.LocalConnectionType.UDS)
            server.add_secure_port(f"unix:{self.socket_path}", credentials)
            await server.start()
            return server

        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(timeout=30)

    def stop(self, grace: float = 1.0) -> None:
        if self._server is not None:
            stopping = asyncio.run_coroutine_threadsafe(self._server.stop(grace), self._loop)
            stopping.result(timeout=grace + 5)
            self._server = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self.pool.shutdown(wait=False, cancel_futures=True)

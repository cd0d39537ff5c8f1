"""The board's tables, declared in storage with the node's other tables (storage/board_tables.py); the
board's code names them from here."""

from unseen.storage.board_tables import BoardSession, BoardUser, LoginAttempt

__all__ = ["BoardSession", "BoardUser", "LoginAttempt"]

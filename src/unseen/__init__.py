"""Unseen: federated learning and privacy computing where raw data never leaves its owner."""

__version__ = "0.1.0"

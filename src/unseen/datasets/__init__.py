"""Readers that turn a party's files into validated tables."""

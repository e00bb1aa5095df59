"""Sending: messages and replies a user sends through UniPile, each at most once per key."""

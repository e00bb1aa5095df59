"""Persistence: Tortoise models, configuration and migrations."""

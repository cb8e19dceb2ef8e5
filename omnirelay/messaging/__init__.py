"""Messaging (seeds 002, 003): behavioural events evaluated against rules in YAML, the first
matching rule deciding whether a message is sent, and every decision explainable."""

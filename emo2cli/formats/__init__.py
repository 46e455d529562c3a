"""Readers, writers and validators of every intermediate file (DESIGN §2, docs/formats.md)."""

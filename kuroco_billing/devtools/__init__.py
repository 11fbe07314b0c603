"""Helpers for `make run`: development tooling, never imported by the app itself."""

"""What seed_demo prints: one line per record, created or already up to date."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.management.base import OutputWrapper
from django.core.management.color import Style


@dataclass(frozen=True)
class SeedOutput:
    stdout: OutputWrapper
    stderr: OutputWrapper
    style: Style

    def line(self, text: str) -> None:
        self.stdout.write(text)

    def report(self, what: str, created: bool) -> None:
        self.line(f"{what}: {'created' if created else 'up to date'}")

    def warn(self, text: str) -> None:
        self.stderr.write(self.style.WARNING(f"WARNING: {text}"))

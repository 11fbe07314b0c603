"""Shared fixtures. Each fixture module owns one kind of real collaborator."""

pytest_plugins = [
    "tests.fixtures.emulator",
    "tests.fixtures.browser",
    "tests.fixtures.accounts",
    "tests.fixtures.billing",
    "tests.fixtures.processes",
]

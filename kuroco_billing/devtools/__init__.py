"""Development tooling (`make run`, the tests, the bench): never imported by the app itself."""

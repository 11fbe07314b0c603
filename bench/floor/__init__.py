"""The speed floor for `make bench`: the least a Django webhook can do (docs/performance.md)."""

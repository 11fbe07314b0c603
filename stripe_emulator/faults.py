"""Injected failures for the next N matching requests: 500, 429, hang, drop, each striking
``before`` execution (nothing saved) or ``during`` it (saved under the idempotency key).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

MODES = ("500", "429", "hang", "drop")
STAGES = ("before", "during")
BEFORE_ONLY = ("429",)  # a rate-limited request never starts executing


@dataclass
class Fault:
    path: str  # a prefix, e.g. "/v1/customers"
    mode: str
    count: int = 1
    method: str | None = None
    seconds: float = 30.0  # how long "hang" sleeps before answering 500
    stage: str = "before"

    def matches(self, method: str, path: str, stage: str) -> bool:
        return (path.startswith(self.path) and stage == self.stage
                and (self.method is None or self.method == method))


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str, stage: str = "before") -> Fault | None:
        """The first fault matching this request at this stage, used up by one."""
        with self._lock:
            for fault in self._faults:
                if fault.count > 0 and fault.matches(method, path, stage):
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

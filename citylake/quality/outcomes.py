"""What a suite's validation found: each expectation's outcome, and the suite's verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ExpectationOutcome:
    id: str  # "<suite>#<index>:<type>:<columns>", the same id row tags carry
    type: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int | None = None
    element_count: int | None = None
    observed: str | None = None  # observed value or sample of unexpected values, for failures

    def describe(self) -> str:
        parts = [self.id]
        if self.unexpected_count is not None:
            parts.append(f"{self.unexpected_count} of {self.element_count} rows unexpected")
        if self.observed:
            parts.append(f"observed {self.observed}")
        return "; ".join(parts)


@dataclass
class SuiteOutcome:
    dataset: str
    suite: str
    validation_id: str
    success: bool
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    seconds: float = 0.0
    result_key: Any = None  # GX ValidationResultIdentifier, for Data Docs

    def failed(self, *severities: str) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and (not severities or o.severity in severities)]

    @property
    def verdict(self) -> str:
        if self.failed("fail"):
            return "failed"
        return "warned" if self.failed() else "passed"

    def reason(self) -> str:
        return "; ".join(o.describe() for o in self.failed("fail"))

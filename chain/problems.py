"""The problem list every structural check writes into: `Problem`s with a stable code and a
path into the document, bounded by MAX_PROBLEMS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_PROBLEMS", "ROOT", "Problem", "ProblemList", "at_index", "at_key"]

MAX_PROBLEMS: Final = 100  # a hostile document cannot make the report unbounded
ROOT: Final = ""  # the path of the document itself


@dataclass(frozen=True, slots=True)
class Problem:
    """One structural defect: a stable `code`, where (`credentialSubject.achievement.name`,
    `evidence[0].type`; "" is the document itself) and a plain-English `message`."""

    code: str
    path: str
    message: str


class ProblemList:
    """Collects problems up to MAX_PROBLEMS."""

    __slots__ = ("problems", "truncated")

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.truncated = False

    def add(self, code: str, path: str, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(code, path, message))
        else:
            self.truncated = True

    def result(self) -> list[Problem]:
        if self.truncated:
            note = f"more than {MAX_PROBLEMS} problems; the rest are not listed"
            return [*self.problems, Problem("structure_truncated", ROOT, note)]
        return list(self.problems)


def at_key(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def at_index(path: str, index: int) -> str:
    return f"{path}[{index}]"

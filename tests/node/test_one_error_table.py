"""Issue 11 item 1: one table (node/errors.py `STATUS_BY_CODE`) gives each workflow error its
HTTP status. No workflow module gives statuses itself (a `_STATUS` table or an `http_status`
set by hand), and the errors moved into the table kept the statuses they had."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from badgechain.node.backpack import BackpackError
from badgechain.node.challenges import ChallengeError
from badgechain.node.claim_proof import ClaimProofError
from badgechain.node.claims import ClaimError
from badgechain.node.course_limits import RateLimited
from badgechain.node.courses import CourseError
from badgechain.node.earner_lookup import EarnerLookupError
from badgechain.node.errors import NodeError
from badgechain.node.holder import PresentationError
from badgechain.node.nodelog import NodeLogError

ROOT = Path(__file__).resolve().parents[2]
# The HTTP layer answers with statuses by design (node/problems.py `Problem`).
HTTP_LAYER = {"errors", "problems", "routes", "web", "gateway", "api", "app"}


def _declares_routes(tree: ast.Module) -> bool:
    for statement in tree.body:
        targets = (
            statement.targets
            if isinstance(statement, ast.Assign)
            else [statement.target]
            if isinstance(statement, ast.AnnAssign)
            else []
        )
        if any(isinstance(target, ast.Name) and target.id == "ROUTES" for target in targets):
            return True
    return False


def _sets_a_status(tree: ast.Module) -> bool:
    """Whether the module assigns `http_status` (on a class, an instance or an error)."""
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Name) and target.id == "http_status":
                return True
            if isinstance(target, ast.Attribute) and target.attr == "http_status":
                return True
    return False


def modules_with_own_statuses(root: Path = ROOT) -> set[str]:
    found = set()
    for path in sorted((root / "node").glob("*.py")):
        if path.stem in HTTP_LAYER or path.stem.endswith("_routes"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        if not _declares_routes(tree) and _sets_a_status(tree):
            found.add(path.stem)
    return found


def test_no_workflow_module_gives_statuses_outside_the_table() -> None:
    assert modules_with_own_statuses() == set(), "map these errors in node/errors.py"


def test_the_check_finds_a_status_given_by_hand(tmp_path: Path) -> None:
    (tmp_path / "node").mkdir()
    (tmp_path / "node" / "thing.py").write_text(
        "class ThingError(Exception):\n    http_status = 409\n"
    )
    (tmp_path / "node" / "other.py").write_text("def f(error):\n    error.http_status = 404\n")
    (tmp_path / "node" / "thing_routes.py").write_text("ROUTES = ()\nhttp_status = 1\n")
    (tmp_path / "node" / "clean.py").write_text("from .errors import NodeError\n")
    assert modules_with_own_statuses(tmp_path) == {"thing", "other"}


# The statuses these errors had while their modules kept their own tables (before Z2 moved
# them into node/errors.py): the move changed none.
_MOVED: list[tuple[Callable[..., NodeError], str, int]] = [
    (ChallengeError, "challenges_full", 503),
    (ChallengeError, "challenge_replayed", 422),
    (ChallengeError, "domain_mismatch", 422),
    (PresentationError, "badge_not_found", 404),
    (PresentationError, "presentation_not_holder", 422),
    (PresentationError, "presentation_too_many", 400),
    (EarnerLookupError, "earner_id_invalid", 400),
    (EarnerLookupError, "did_unsupported", 400),
    (EarnerLookupError, "earner_unknown", 404),
    (EarnerLookupError, "earner_not_persona", 422),
    (EarnerLookupError, "earner_did_document_invalid", 422),
    (EarnerLookupError, "earner_did_web_unreachable", 502),
    (BackpackError, "already_held", 409),
    (BackpackError, "backpack_key_mismatch", 409),
    (BackpackError, "badge_too_large", 413),
    (BackpackError, "backpack_invalid", 422),
    (BackpackError, "backpack_too_large", 422),
    (BackpackError, "backpack_error", 400),
    (CourseError, "course_not_found", 404),
    (CourseError, "participant_not_found", 404),
    (CourseError, "submission_not_found", 404),
    (CourseError, "hashtag_taken", 409),
    (CourseError, "participant_exists", 409),
    (CourseError, "completion_exists", 409),
    (CourseError, "submission_closed", 409),
    (CourseError, "harvest_not_found", 404),
    (CourseError, "webmention_not_found", 404),
    (CourseError, "webmention_rate_limited", 429),
    (CourseError, "registration_rate_limited", 429),
    (CourseError, "webmention_busy", 503),
    (CourseError, "feed_url_invalid", 400),
    (ClaimError, "claim_not_found", 404),
    (ClaimError, "claim_code_wrong", 422),
    (ClaimError, "claim_code_expired", 422),
    (ClaimError, "claim_code_used", 409),
    (ClaimError, "claim_rate_limited", 429),
    (ClaimError, "claim_code_invalid", 400),
    (ClaimError, "claim_issuer_unknown", 422),
    (ClaimError, "claim_not_handed_over", 409),
    (ClaimError, "claim_issuer_unreachable", 422),
    (ClaimError, "claim_issuer_failed", 422),
    (ClaimError, "claim_badge_invalid", 422),
    (ClaimError, "claim_proof_missing", 400),
    (ClaimError, "claim_proof_stale", 422),
    (ClaimError, "claim_already_claimed", 409),
    (ClaimError, "claim_address_unknown", 409),
    (ClaimError, "claim_resend_rate_limited", 429),
    (ClaimError, "handover_conflict", 422),  # a replica's refusal, passed on
    (ClaimProofError, "claim_proof_missing", 400),
    (ClaimProofError, "claim_proof_invalid", 422),
    (ClaimProofError, "claim_proof_stale", 422),
    (NodeLogError, "log_entry_not_found", 404),
    (NodeLogError, "log_storage_damaged", 500),
    (NodeLogError, "log_opening_invalid", 422),
]


@pytest.mark.parametrize(("kind", "code", "status"), _MOVED)
def test_errors_moved_into_the_table_keep_their_statuses(
    kind: Callable[..., NodeError], code: str, status: int
) -> None:
    assert kind("refused", code=code).http_status == status


def test_a_rate_limit_is_429_whatever_its_code() -> None:
    limited = RateLimited("later", code="harvest_rate_limited", retry_after_s=5.0)
    assert (limited.http_status, limited.retry_after_s) == (429, 5.0)

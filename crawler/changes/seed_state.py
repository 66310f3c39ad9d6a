"""A seed's state (alive, gone, removed, failing) from its captures, changed only when enough agree (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace

STATES = ("alive", "gone", "removed", "failing")
DEFAULT_CONFIRM = 2

# What one capture says about the article. no_content says nothing (a PDF, an empty template):
# it neither changes the state nor breaks a run of agreeing captures.
_OBSERVED = {
    "new_version": "alive",
    "unchanged": "alive",
    "not_modified": "alive",
    "gone": "gone",
    "removed": "removed",
    "failed": "failing",
}


@dataclass(frozen=True)
class SeedState:
    """The state columns of a seeds row."""

    state: str | None = None
    state_since: str | None = None
    last_seen_alive_at: str | None = None
    pending_state: str | None = None
    pending_count: int = 0
    pending_since: str | None = None


def observed_state(outcome: str) -> str | None:
    """The state one capture's outcome points to, None when it says nothing."""
    return _OBSERVED.get(outcome)


def next_seed_state(current: SeedState, outcome: str, at: str, confirm: int = DEFAULT_CONFIRM) -> SeedState:
    """The state after a capture with outcome at time at (ISO).

    A different state needs `confirm` captures in a row that say so; it then dates from the first
    of them. A seed's first answer that the article is there makes it alive at once (nothing to
    confirm against); any other first state waits like a change, so one bad response is never a removal.
    """
    observed = observed_state(outcome)
    if observed is None:
        return current
    if observed == "alive":
        current = replace(current, last_seen_alive_at=at)
    if observed == current.state:
        return replace(current, pending_state=None, pending_count=0, pending_since=None)
    if observed == current.pending_state:
        count, since = current.pending_count + 1, current.pending_since or at
    else:
        count, since = 1, at
    if count >= confirm or (current.state is None and observed == "alive"):
        return replace(
            current, state=observed, state_since=since, pending_state=None, pending_count=0, pending_since=None
        )
    return replace(current, pending_state=observed, pending_count=count, pending_since=since)

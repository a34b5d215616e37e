"""What the HTTP front end is handed when it is created."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crafting_table.auth import TokenCache
from crafting_table.config import Settings
from crafting_table.ledger import Ledger
from crafting_table.messages import Ref


@dataclass(slots=True)
class AppContext:
    """The ledger, the settings and the references to the actors.

    ``supervision`` returns the supervisor's per-child snapshot for
    ``/healthz``; ``extra_health`` adds named sections (containment, ...).
    """

    settings: Settings
    ledger: Ledger
    runner: Ref
    notifier: Ref | None = None
    patcher: Ref | None = None
    scheduler: Ref | None = None
    started_at: float = 0.0
    supervision: Callable[[], list[dict[str, Any]]] = list
    extra_health: dict[str, Callable[[], Any]] = field(default_factory=dict)
    token_cache: TokenCache = field(default_factory=TokenCache)

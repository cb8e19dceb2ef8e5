"""The rules a process decides with: loaded once, swapped whole on reload.

One holder per rules file and templates directory, shared by everything in the process
(the API, the embedded worker, a SIGHUP handler), so a reload applies to all of them at
once. Readers take ``holder.current`` — one attribute read, so a decision is made under
one version from start to end, whatever a reload does meanwhile. A reload that fails
keeps the last good rules and raises the file's problems.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from omnirelay.config import Settings
from omnirelay.messaging.rules import RuleSet, RulesFileError, load_rules, template_names
from omnirelay.messaging.rules.schema import RulesSettings

log = logging.getLogger("omnirelay.messaging")

NO_RULES_VERSION = "none"


class RulesHolder:
    def __init__(self, rules_file: Path, templates_dir: Path) -> None:
        self.rules_file = rules_file
        self.templates_dir = templates_dir
        self._lock = threading.Lock()
        self.current: RuleSet = RuleSet(
            [], RulesSettings(), version=NO_RULES_VERSION, source=str(rules_file)
        )
        self.last_error: RulesFileError | None = None
        try:
            self.reload()
        except RulesFileError as exc:
            # The relay must not stop for a broken rules file: messaging decides "no rule
            # matched" until a reload succeeds, and says why it has no rules.
            log.error("messaging rules not loaded, no rule will match until a reload: %s", exc)

    def reload(self) -> RuleSet:
        """Load the file again; the new rules apply to every decision that starts after
        this returns. On a problem the current rules stay and ``RulesFileError`` is raised."""
        with self._lock:
            try:
                rules = load_rules(self.rules_file, template_names(self.templates_dir))
            except RulesFileError as exc:
                self.last_error = exc
                raise
            self.current = rules
            self.last_error = None
        log.info("messaging rules loaded: %s", rules.summary())
        return rules


_HOLDERS: dict[tuple[str, str], RulesHolder] = {}
_HOLDERS_LOCK = threading.Lock()


def rules_holder(settings: Settings) -> RulesHolder:
    """The process's holder of the rules ``settings`` name."""
    key = (str(settings.rules_file.resolve()), str(settings.templates_dir.resolve()))
    with _HOLDERS_LOCK:
        holder = _HOLDERS.get(key)
        if holder is None:
            holder = _HOLDERS[key] = RulesHolder(settings.rules_file, settings.templates_dir)
        return holder


def reload_every_holder() -> None:
    """What SIGHUP does: reload every rules file this process decides with; a file that
    fails is logged and keeps its last good rules."""
    with _HOLDERS_LOCK:
        holders = list(_HOLDERS.values())
    for holder in holders:
        try:
            holder.reload()
        except RulesFileError as exc:
            log.error("messaging rules reload failed, the last good rules stay: %s", exc)

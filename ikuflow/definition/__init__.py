"""Workflow definitions: files in, frozen validated models out."""

from ikuflow.definition.load import GUARDS, check_files, load_file, parse_text
from ikuflow.definition.model import ROLES, Deadline, Escalation, EventDef, StateDef, Workflow

__all__ = ["GUARDS", "ROLES", "Deadline", "Escalation", "EventDef", "StateDef", "Workflow",
           "check_files", "load_file", "parse_text"]

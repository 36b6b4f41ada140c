"""What bench_core.py and bench_evidence.py share: the divisions, which ikuflow event each anchor
event is and who fires it, and the one person per role each benchmark office gets."""

from __future__ import annotations

DIVISIONS = ("sdmo", "hukum", "penanganan", "pencegahan", "sengketa")
# anchor workload events -> ikuflow events (workflows/iku.yaml)
EVENT_MAP = {"submit": "submit", "synchronize": "synchronize", "chair_approve": "approve",
             "sign": "sign", "return_to_draft": "send_back"}
# who fires each ikuflow event (a role the event admits, scoped to the document)
ACTOR_ROLE = {"submit": "coordinator", "synchronize": "secretariat", "approve": "chair",
              "sign": "chair", "send_back": "secretariat"}


def people_of(office: str) -> list[tuple]:
    """One person per role for an office: 5 coordinators (one per division), secretariat, chair,
    as (email, name, role, division)."""
    out = [(f"coord-{div}@{office}.example.id", f"Koordinator {div} {office}", "coordinator", div)
           for div in DIVISIONS]
    out.append((f"sekretariat@{office}.example.id", f"Sekretariat {office}", "secretariat", None))
    out.append((f"ketua@{office}.example.id", f"Ketua {office}", "chair", None))
    return out


def actor_for(event: str, office: str, division: str) -> str:
    """The person of people_of(office) who fires ``event`` on a document of ``division``."""
    role = ACTOR_ROLE[event]
    if role == "coordinator":
        return f"coord-{division}@{office}.example.id"
    return f"sekretariat@{office}.example.id" if role == "secretariat" else f"ketua@{office}.example.id"

"""Member events → rm_members (now), rm_member_history (as of), rm_movements (period
statistics) and the member fact tables, folded in memory.

A handler changes a `MemberState` (the member's rm_members row as a dict, plus the rows
their events add) and touches no database: member_batch.py loads the rows of a whole
batch's members at once, runs the handlers in order and writes the outcome set-based,
so a batch costs a few statements instead of several per event.

Counting follows DOMAIN.md: the formal organisation counts; a transfer in transit, a
placement or a community registration never moves the count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from projections.apply.common import Record, day, text

# rm_members, in table order.
MEMBER_COLUMNS = (
    "id", "name", "sex", "birth_date", "ethnicity", "education", "occupation",
    "organisation_id", "stage", "stage_since", "applied_on", "transfer_to", "transfer_letter",
    "transfer_valid_until", "transfer_started_on", "episode", "status", "exited_on",
    "standing", "standing_since", "standing_until", "activist_since", "target_since",
    "admitted_on", "probation_ends_on", "full_since", "placement_organisation_id",
    "placement_since", "community_id", "community_since",
)  # fmt: skip
_NEW_ROW = {**dict.fromkeys(MEMBER_COLUMNS), "status": "ACTIVE", "standing": "NORMAL"}
_TRANSFER_CLEARED: dict[str, Any] = {
    "transfer_to": None, "transfer_letter": None, "transfer_valid_until": None,
    "transfer_started_on": None,
}  # fmt: skip
_EPISODE_RESET: dict[str, Any] = {
    **_TRANSFER_CLEARED, "status": "ACTIVE", "exited_on": None, "standing": "NORMAL",
    "standing_since": None, "standing_until": None, "activist_since": None,
    "target_since": None, "admitted_on": None, "probation_ends_on": None,
    "full_since": None, "placement_organisation_id": None, "placement_since": None,
    "community_id": None, "community_since": None,
}  # fmt: skip


@dataclass
class MemberState:
    """One member while a batch of their events is applied: the row as stored (None: no
    row yet) and what the events add. Values are kept as the tables hold them (ISO text,
    uuids as text, the episode as int), so a row read back compares equal."""

    id: str
    row: dict[str, Any] | None
    existed: bool = False  # the row was read from the table (else: inserted, if any)
    changed: bool = False
    history: list[tuple[Any, ...]] = field(default_factory=list)
    movements: list[tuple[Any, ...]] = field(default_factory=list)
    # Rare facts (circumstances, talks, opinions, admission exceptions): statements run
    # in event order, as written.
    statements: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    @classmethod
    def loaded(cls, member_id: str, row: dict[str, Any] | None) -> MemberState:
        return cls(member_id, row, existed=row is not None)

    def update(self, **columns: Any) -> None:
        # As an UPDATE of a missing row: nothing happens.
        if self.row is None:
            return
        for name, value in columns.items():
            self.row[name] = text(value)
        self.changed = True

    def now(self) -> tuple[str, str] | None:
        """(formal organisation, stage) now."""
        return (self.row["organisation_id"], self.row["stage"]) if self.row else None

    def organisation(self) -> str | None:
        return self.row["organisation_id"] if self.row else None

    def record_history(self, r: Record, **attributes: Any) -> None:
        """One history row per attribute this event changes, at its effective date."""
        member_id, version, effective = self.id, r["version"], day(r)
        # Most values are text or None already (text() would return them as they are).
        self.history.extend([
            (member_id, version, name, effective,
             value if value is None or value.__class__ is str else text(value))
            for name, value in attributes.items()
        ])  # fmt: skip

    def movement(
        self,
        r: Record,
        kind: str,
        organisation_id: Any,
        other: Any = None,
        detail: str | None = None,
        stage: str | None = None,
    ) -> None:
        self.movements.append(
            (self.id, r["version"], kind, day(r), text(organisation_id), text(other), detail,
             stage)
        )  # fmt: skip


MemberHandler = Callable[[MemberState, Record], None]


def _episode_history(m: MemberState, r: Record, episode: int) -> None:
    # The episode row stands for the rest of the start (timeline.EPISODE_START).
    m.record_history(r, organisation=r["organisation_id"], stage="APPLICANT", episode=episode)


def _applied(m: MemberState, r: Record) -> None:
    if m.row is None:  # a row already there stays as it is
        effective = day(r)
        m.row = {
            **_NEW_ROW,
            "id": m.id,
            "name": r["name"],
            "sex": r["sex"],
            "birth_date": r["birth_date"].isoformat(),
            "ethnicity": r["ethnicity"],
            "education": r["education"],
            "occupation": r["occupation"],
            "organisation_id": str(r["organisation_id"]),
            "stage": "APPLICANT",
            "stage_since": effective,
            "applied_on": effective,
            "episode": 1,
        }
    _episode_history(m, r, 1)


def _reapplied(m: MemberState, r: Record) -> None:
    # A new episode: sex and birth date come from the citizen ID and stay.
    if m.row is not None:
        m.row.update(_EPISODE_RESET)
        m.update(
            name=r["name"],
            ethnicity=r["ethnicity"],
            education=r["education"],
            occupation=r["occupation"],
            organisation_id=r["organisation_id"],
            stage="APPLICANT",
            stage_since=day(r),
            applied_on=day(r),
        )
        m.row["episode"] = r["episode"]
    _episode_history(m, r, int(r["episode"]))


def _stage(stage: str, since_column: str) -> MemberHandler:
    def apply(m: MemberState, r: Record) -> None:
        m.update(stage=stage, stage_since=day(r), **{since_column: day(r)})
        m.record_history(r, stage=stage)

    return apply


def _probationary_admitted(m: MemberState, r: Record) -> None:
    # Membership and probation run from the branch meeting (the effective date).
    was_at = m.organisation()
    m.update(
        stage="PROBATIONARY",
        stage_since=day(r),
        admitted_on=day(r),
        probation_ends_on=r["probation_ends_on"],
    )
    m.record_history(r, stage="PROBATIONARY")
    if r.get("exception_reason"):
        m.statements.append((
            "INSERT INTO rm_admission_exceptions (member_id, version, effective_date, reason)"
            " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (m.id, r["version"], day(r), r["exception_reason"]),
        ))  # fmt: skip
    # Admissions count where approved (DOMAIN.md, Counting).
    m.movement(r, "ADMITTED", r["approved_by"], was_at)


def _converted(m: MemberState, r: Record) -> None:
    was_at = m.organisation()
    m.update(
        stage="FULL",
        stage_since=day(r),
        full_since=r["full_since"],
        standing="NORMAL",
        standing_since=r["full_since"],
        standing_until=None,
    )
    m.record_history(r, stage="FULL", standing="NORMAL")
    m.movement(r, "CONVERTED", r["approved_by"], was_at)


def _probation_extended(m: MemberState, r: Record) -> None:
    m.update(probation_ends_on=r["probation_ends_on"])


def _standing(standing: str) -> MemberHandler:
    def apply(m: MemberState, r: Record) -> None:
        m.update(standing=standing, standing_since=day(r), standing_until=r.get("until"))
        m.record_history(r, standing=standing)

    return apply


def _exit(kind: str) -> MemberHandler:
    def apply(m: MemberState, r: Record) -> None:
        current = m.now()
        # An exit ends what was open with it; the row stays, with its status, and the
        # member leaves every count from the effective date.
        m.update(
            status=kind,
            exited_on=day(r),
            **_TRANSFER_CLEARED,
            placement_organisation_id=None,
            placement_since=None,
            community_id=None,
            community_since=None,
        )
        m.record_history(r, status=kind, in_transit_to=None, placement=None, community=None)
        # Exits count where decided; withdrawal and death carry no decision: the formal
        # organisation counts them.
        where = r.get("decided_by") or (current and current[0])
        if where is not None:
            m.movement(r, "EXIT", where, detail=kind, stage=current and current[1])

    return apply


def _circumstance_set(m: MemberState, r: Record) -> None:
    m.statements.append((
        "INSERT INTO rm_member_circumstances (member_id, circumstance, since) VALUES (?, ?, ?)"
        " ON CONFLICT (member_id, circumstance) DO UPDATE SET since = excluded.since",
        (m.id, r["circumstance"], day(r)),
    ))  # fmt: skip
    m.record_history(r, **{f"circumstance.{r['circumstance']}": "SET"})


def _circumstance_cleared(m: MemberState, r: Record) -> None:
    m.statements.append((
        "DELETE FROM rm_member_circumstances WHERE member_id = ? AND circumstance = ?",
        (m.id, r["circumstance"]),
    ))  # fmt: skip
    m.record_history(r, **{f"circumstance.{r['circumstance']}": None})


def _tie(attribute: str, column: str, tied: bool) -> MemberHandler:
    """A community registration or a placement: a tie with its date that never moves the
    count (the column is named like the event's field)."""

    def apply(m: MemberState, r: Record) -> None:
        value = r[column] if tied else None
        m.update(**{column: value, f"{attribute}_since": day(r) if tied else None})
        m.record_history(r, **{attribute: value})

    return apply


def _transfer_started(m: MemberState, r: Record) -> None:
    # In transit the member still counts at the sender: only the transfer columns move.
    m.update(
        transfer_to=r["to_organisation_id"],
        transfer_letter=r["letter_number"],
        transfer_valid_until=r["valid_until"],
        transfer_started_on=day(r),
    )
    m.record_history(r, in_transit_to=r["to_organisation_id"])


def _transfer_renewed(m: MemberState, r: Record) -> None:
    m.update(transfer_letter=r["new_letter_number"], transfer_valid_until=r["valid_until"])


def _transfer_accepted(m: MemberState, r: Record) -> None:
    current = m.now()
    m.update(organisation_id=r["to_organisation_id"], **_TRANSFER_CLEARED)
    m.record_history(r, organisation=r["to_organisation_id"], in_transit_to=None)
    m.movement(
        r,
        "TRANSFER",
        r["from_organisation_id"],
        r["to_organisation_id"],
        stage=current and current[1],
    )


def _transfer_refused(m: MemberState, r: Record) -> None:
    m.update(**_TRANSFER_CLEARED)
    m.record_history(r, in_transit_to=None)


def _talk_held(m: MemberState, r: Record) -> None:
    m.statements.append((
        "INSERT INTO rm_member_talks (member_id, version, effective_date, held_by, late)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (m.id, r["version"], day(r), text(r["held_by"]), int(bool(r["late"]))),
    ))  # fmt: skip


def _opinion_heard(m: MemberState, r: Record) -> None:
    m.statements.append((
        "INSERT INTO rm_member_opinions (member_id, version, effective_date, community_id,"
        " favourable) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (m.id, r["version"], day(r), text(r["community_id"]), int(bool(r["favourable"]))),
    ))  # fmt: skip


def _audit_only(m: MemberState, r: Record) -> None:
    """Facts kept on the trail only (review, training, sponsors, feedback, return slip):
    no roster, history or statistic reads them."""


MEMBER_HANDLERS: dict[str, MemberHandler] = {
    "MemberApplied": _applied,
    "MemberReapplied": _reapplied,
    "MemberActivistAdmitted": _stage("ACTIVIST", "activist_since"),
    "MemberDevelopmentTargetAdmitted": _stage("DEVELOPMENT_TARGET", "target_since"),
    "MemberProbationaryAdmitted": _probationary_admitted,
    "MemberConverted": _converted,
    "MemberProbationExtended": _probation_extended,
    "MemberProbationCancelled": _exit("CANCELLED"),
    "MemberCorrectionOrdered": _standing("CORRECTION"),
    "MemberCorrectionEnded": _standing("NORMAL"),
    "MemberPartyProbationImposed": _standing("PARTY_PROBATION"),
    "MemberPartyProbationEnded": _standing("NORMAL"),
    "MemberSuspended": _standing("SUSPENDED"),
    "MemberRestored": _standing("NORMAL"),
    "MemberWithdrawn": _exit("WITHDRAWN"),
    "MemberRemoved": _exit("REMOVED"),
    "MemberExpelled": _exit("EXPELLED"),
    "MemberDied": _exit("DIED"),
    "MemberCircumstanceSet": _circumstance_set,
    "MemberCircumstanceCleared": _circumstance_cleared,
    "MemberCommunityRegistered": _tie("community", "community_id", True),
    "MemberCommunityRegistrationEnded": _tie("community", "community_id", False),
    "MemberPlaced": _tie("placement", "placement_organisation_id", True),
    "MemberPlacementEnded": _tie("placement", "placement_organisation_id", False),
    "MemberTransferStarted": _transfer_started,
    "MemberTransferRenewed": _transfer_renewed,
    "MemberTransferAccepted": _transfer_accepted,
    "MemberTransferRefused": _transfer_refused,
    "MemberCommunityFeedbackSent": _audit_only,
    "MemberPoliticalReviewRecorded": _audit_only,
    "MemberTrainingRecorded": _audit_only,
    "MemberSponsorsNamed": _audit_only,
    "MemberReturnSlipRecorded": _audit_only,
    "MemberApplicationTalkHeld": _talk_held,
    "MemberCommunityOpinionHeard": _opinion_heard,
}

"""Member events → rm_members (now), rm_member_history / timeline (as of), rm_movements
(period statistics). Counting follows DOMAIN.md: the formal organisation counts; a
transfer in transit, a placement or a community registration never moves the count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from projections.apply.common import Handler, Record, day, text
from projections.apply.timeline import record_history, refold
from projections.database import Cursor

_EPISODE_RESET = (
    "transfer_to = NULL, transfer_letter = NULL, transfer_valid_until = NULL,"
    " transfer_started_on = NULL, status = 'ACTIVE', exited_on = NULL, standing = 'NORMAL',"
    " standing_since = NULL, standing_until = NULL, activist_since = NULL, target_since = NULL,"
    " admitted_on = NULL, probation_ends_on = NULL, full_since = NULL,"
    " placement_organisation_id = NULL, placement_since = NULL, community_id = NULL,"
    " community_since = NULL"
)


def _update(cur: Cursor, member_id: str, **columns: Any) -> None:
    assignments = ", ".join(f"{name} = ?" for name in columns)
    cur.execute(
        f"UPDATE rm_members SET {assignments} WHERE id = ?",
        (*(text(v) for v in columns.values()), member_id),
    )


def _member(cur: Cursor, member_id: str) -> tuple[str, str] | None:
    """(formal organisation, stage) now."""
    cur.execute("SELECT organisation_id, stage FROM rm_members WHERE id = ?", (member_id,))
    row = cur.fetchone()
    return (row[0], row[1]) if row else None


def _movement(
    cur: Cursor,
    member_id: str,
    r: Record,
    kind: str,
    organisation_id: Any,
    other: Any = None,
    detail: str | None = None,
    stage: str | None = None,
) -> None:
    cur.execute(
        "INSERT INTO rm_movements (member_id, version, kind, effective_date, organisation_id,"
        " other_organisation_id, detail, stage) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (member_id, r["version"], kind, day(r), text(organisation_id), text(other), detail, stage),
    )


def _episode_history(cur: Cursor, member_id: str, r: Record, episode: int) -> None:
    record_history(
        cur,
        member_id,
        r,
        organisation=r["organisation_id"],
        stage="APPLICANT",
        standing="NORMAL",
        status="ACTIVE",
        episode=episode,
        in_transit_to=None,
        placement=None,
        community=None,
    )


def _applied(cur: Cursor, member_id: str, r: Record) -> None:
    cur.execute(
        "INSERT INTO rm_members (id, name, sex, birth_date, ethnicity, education, occupation,"
        " organisation_id, stage, stage_since, applied_on, episode)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'APPLICANT', ?, ?, 1)"
        " ON CONFLICT (id) DO NOTHING",
        (
            member_id,
            r["name"],
            r["sex"],
            r["birth_date"].isoformat(),
            r["ethnicity"],
            r["education"],
            r["occupation"],
            str(r["organisation_id"]),
            day(r),
            day(r),
        ),
    )
    _episode_history(cur, member_id, r, 1)


def _reapplied(cur: Cursor, member_id: str, r: Record) -> None:
    # A new episode: sex and birth date come from the citizen ID and stay.
    cur.execute(
        "UPDATE rm_members SET name = ?, ethnicity = ?, education = ?, occupation = ?,"
        " organisation_id = ?, stage = 'APPLICANT', stage_since = ?, applied_on = ?,"
        f" episode = ?, {_EPISODE_RESET} WHERE id = ?",
        (
            r["name"],
            r["ethnicity"],
            r["education"],
            r["occupation"],
            str(r["organisation_id"]),
            day(r),
            day(r),
            r["episode"],
            member_id,
        ),
    )
    _episode_history(cur, member_id, r, int(r["episode"]))


def _stage(stage: str, since_column: str) -> Handler:
    def apply(cur: Cursor, member_id: str, r: Record) -> None:
        _update(cur, member_id, stage=stage, stage_since=day(r), **{since_column: day(r)})
        record_history(cur, member_id, r, stage=stage)

    return apply


def _probationary_admitted(cur: Cursor, member_id: str, r: Record) -> None:
    # Membership and probation run from the branch meeting (the effective date).
    current = _member(cur, member_id)
    _update(
        cur,
        member_id,
        stage="PROBATIONARY",
        stage_since=day(r),
        admitted_on=day(r),
        probation_ends_on=r["probation_ends_on"],
    )
    record_history(cur, member_id, r, stage="PROBATIONARY")
    if r.get("exception_reason"):
        cur.execute(
            "INSERT INTO rm_admission_exceptions (member_id, version, effective_date, reason)"
            " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (member_id, r["version"], day(r), r["exception_reason"]),
        )
    # Admissions count where approved (DOMAIN.md, Counting).
    _movement(cur, member_id, r, "ADMITTED", r["approved_by"], current and current[0])


def _converted(cur: Cursor, member_id: str, r: Record) -> None:
    current = _member(cur, member_id)
    _update(
        cur,
        member_id,
        stage="FULL",
        stage_since=day(r),
        full_since=r["full_since"],
        standing="NORMAL",
        standing_since=r["full_since"],
        standing_until=None,
    )
    record_history(cur, member_id, r, stage="FULL", standing="NORMAL")
    _movement(cur, member_id, r, "CONVERTED", r["approved_by"], current and current[0])


def _probation_extended(cur: Cursor, member_id: str, r: Record) -> None:
    _update(cur, member_id, probation_ends_on=r["probation_ends_on"])


def _standing(standing: str) -> Handler:
    def apply(cur: Cursor, member_id: str, r: Record) -> None:
        _update(
            cur,
            member_id,
            standing=standing,
            standing_since=day(r),
            standing_until=r.get("until"),
        )
        record_history(cur, member_id, r, standing=standing)

    return apply


def _exit(kind: str) -> Handler:
    def apply(cur: Cursor, member_id: str, r: Record) -> None:
        current = _member(cur, member_id)
        # An exit ends what was open with it; the row stays, with its status, and the
        # member leaves every count from the effective date.
        _update(
            cur,
            member_id,
            status=kind,
            exited_on=day(r),
            transfer_to=None,
            transfer_letter=None,
            transfer_valid_until=None,
            transfer_started_on=None,
            placement_organisation_id=None,
            placement_since=None,
            community_id=None,
            community_since=None,
        )
        record_history(
            cur, member_id, r, status=kind, in_transit_to=None, placement=None, community=None
        )
        # Exits count where decided; withdrawal and death carry no decision: the formal
        # organisation counts them.
        where = r.get("decided_by") or (current and current[0])
        if where is not None:
            _movement(cur, member_id, r, "EXIT", where, detail=kind, stage=current and current[1])

    return apply


def _circumstance_set(cur: Cursor, member_id: str, r: Record) -> None:
    cur.execute(
        "INSERT INTO rm_member_circumstances (member_id, circumstance, since) VALUES (?, ?, ?)"
        " ON CONFLICT (member_id, circumstance) DO UPDATE SET since = excluded.since",
        (member_id, r["circumstance"], day(r)),
    )
    record_history(cur, member_id, r, **{f"circumstance.{r['circumstance']}": "SET"})


def _circumstance_cleared(cur: Cursor, member_id: str, r: Record) -> None:
    cur.execute(
        "DELETE FROM rm_member_circumstances WHERE member_id = ? AND circumstance = ?",
        (member_id, r["circumstance"]),
    )
    record_history(cur, member_id, r, **{f"circumstance.{r['circumstance']}": None})


def _tie(attribute: str, column: str, tied: bool) -> Handler:
    """A community registration or a placement: a tie with its date that never moves the
    count (the column is named like the event's field)."""

    def apply(cur: Cursor, member_id: str, r: Record) -> None:
        value = r[column] if tied else None
        _update(cur, member_id, **{column: value, f"{attribute}_since": day(r) if tied else None})
        record_history(cur, member_id, r, **{attribute: value})

    return apply


def _community(registered: bool) -> Handler:
    return _tie("community", "community_id", registered)


def _placement(placed: bool) -> Handler:
    return _tie("placement", "placement_organisation_id", placed)


def _transfer_started(cur: Cursor, member_id: str, r: Record) -> None:
    # In transit the member still counts at the sender: only the transfer columns move.
    _update(
        cur,
        member_id,
        transfer_to=r["to_organisation_id"],
        transfer_letter=r["letter_number"],
        transfer_valid_until=r["valid_until"],
        transfer_started_on=day(r),
    )
    record_history(cur, member_id, r, in_transit_to=r["to_organisation_id"])


def _transfer_renewed(cur: Cursor, member_id: str, r: Record) -> None:
    _update(
        cur,
        member_id,
        transfer_letter=r["new_letter_number"],
        transfer_valid_until=r["valid_until"],
    )


def _transfer_accepted(cur: Cursor, member_id: str, r: Record) -> None:
    current = _member(cur, member_id)
    _update(
        cur,
        member_id,
        organisation_id=r["to_organisation_id"],
        transfer_to=None,
        transfer_letter=None,
        transfer_valid_until=None,
        transfer_started_on=None,
    )
    record_history(cur, member_id, r, organisation=r["to_organisation_id"], in_transit_to=None)
    _movement(
        cur,
        member_id,
        r,
        "TRANSFER",
        r["from_organisation_id"],
        r["to_organisation_id"],
        stage=current and current[1],
    )


def _transfer_refused(cur: Cursor, member_id: str, r: Record) -> None:
    _update(
        cur,
        member_id,
        transfer_to=None,
        transfer_letter=None,
        transfer_valid_until=None,
        transfer_started_on=None,
    )
    record_history(cur, member_id, r, in_transit_to=None)


def _talk_held(cur: Cursor, member_id: str, r: Record) -> None:
    cur.execute(
        "INSERT INTO rm_member_talks (member_id, version, effective_date, held_by, late)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (member_id, r["version"], day(r), text(r["held_by"]), int(bool(r["late"]))),
    )


def _opinion_heard(cur: Cursor, member_id: str, r: Record) -> None:
    cur.execute(
        "INSERT INTO rm_member_opinions (member_id, version, effective_date, community_id,"
        " favourable) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (member_id, r["version"], day(r), text(r["community_id"]), int(bool(r["favourable"]))),
    )


def _audit_only(cur: Cursor, member_id: str, r: Record) -> None:
    """Facts kept on the trail only (review, training, sponsors, feedback, return slip):
    no roster, history or statistic reads them."""


def _then_refold(handler: Handler) -> Handler:
    def apply(cur: Cursor, member_id: str, r: Record) -> None:
        handler(cur, member_id, r)
        refold(cur, member_id)

    return apply


_BY_EVENT: dict[str, Callable[[Cursor, str, Record], None]] = {
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
    "MemberCommunityRegistered": _community(True),
    "MemberCommunityRegistrationEnded": _community(False),
    "MemberPlaced": _placement(True),
    "MemberPlacementEnded": _placement(False),
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
# Facts that change no attribute of the history: nothing to refold.
_NO_REFOLD = (_audit_only, _talk_held, _opinion_heard)

MEMBER_HANDLERS: dict[str, Handler] = {
    name: handler if handler in _NO_REFOLD else _then_refold(handler)
    for name, handler in _BY_EVENT.items()
}

"""Compliance views for one level: what the rules ask for that the registry shows is not
(yet) done. Warnings to act on, not rejections.

The "unit" is what joint and temporary branches cover (their unit codes, the
registration numbers of non-public units): a unit has its own organisation when an
active organisation carries that registration number or code. The events do not say
which covered unit a member of a multi-unit joint branch works in, so only a branch
covering a single unit attributes its full members to that unit; multi-unit branches
with enough full members are listed for a person to check.

Member items judge the members' current state on the day `on`:
* applicants whose talk (入党谈话) was due by `on` (`application_talk_days` after the
  application) and not held by then, with the day of a late talk if one came after;
* members admitted (on or before `on`) while reporting to a community, with no opinion
  of that community dated between their application and the branch meeting (the
  *policy* warning of DOMAIN.md);
* admissions given despite a transfer accepted within the policy months before the
  meeting, with the exception reason given (for a person to check, not a breach).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from domain.organising import UnitStatus, suggest_kind, units_needing_organisation
from domain.policy import DEFAULT_POLICY, Policy
from projections.database import Database
from projections.queries import organisation
from projections.subtree import subtree_sql

_MEMBER_KEYS = ("member_id", "name", "organisation_code")


def compliance(
    db: Database, code: str, on: date | None = None, policy: Policy = DEFAULT_POLICY
) -> dict[str, Any]:
    org = organisation(db, code)
    on = on or date.today()
    sub, params = subtree_sql(org["id"], None)
    iso = on.isoformat()

    def members(where: str, extra: tuple[Any, ...] = (), columns: str = "") -> list[Any]:
        return db.query(
            f"{sub} SELECT m.id, m.name, o.code{columns} FROM rm_members m"
            " JOIN subtree s ON s.id = m.organisation_id"
            " JOIN rm_organisations o ON o.id = m.organisation_id"
            f" WHERE m.status = 'ACTIVE' AND {where} ORDER BY o.code, m.name, m.id",
            (*params, *extra),
        )

    overdue_transfers = [
        {
            **dict(zip(_MEMBER_KEYS, r[:3], strict=True)),
            "to_organisation_id": r[3],
            "letter_number": r[4],
            "valid_until": r[5],
        }
        for r in members(
            "m.transfer_valid_until IS NOT NULL AND m.transfer_valid_until < ?",
            (iso,),
            ", m.transfer_to, m.transfer_letter, m.transfer_valid_until",
        )
    ]
    overdue_probation = [
        {**dict(zip(_MEMBER_KEYS, r[:3], strict=True)), "probation_ends_on": r[3]}
        for r in members(
            "m.stage = 'PROBATIONARY' AND m.probation_ends_on < ?", (iso,), ", m.probation_ends_on"
        )
    ]
    mobile_not_placed = [
        dict(zip(_MEMBER_KEYS, r, strict=True))
        for r in members(
            "m.placement_organisation_id IS NULL AND m.stage IN ('PROBATIONARY', 'FULL')"
            " AND EXISTS (SELECT 1 FROM rm_member_circumstances c WHERE c.member_id = m.id"
            " AND c.circumstance = 'MOBILE')"
        )
    ]
    units, to_check = _units(db, sub, params, policy)
    return {
        "organisation": org["code"],
        "on": iso,
        "units_needing_organisation": units,
        "joint_branches_to_check": to_check,
        "transfers_past_validity": overdue_transfers,
        "mobile_members_not_placed": mobile_not_placed,
        "probation_past_end_without_decision": overdue_probation,
        "organisations_over_size": _over_size(db, sub, params, policy),
        "applicants_without_talk": _applicants_without_talk(db, sub, params, on, policy),
        "admissions_without_community_opinion": _admissions_without_community_opinion(
            db, sub, params, on
        ),
        "admissions_with_unit_exception": _admissions_with_unit_exception(db, sub, params, on),
    }


def _applicants_without_talk(
    db: Database, sub: str, params: tuple[Any, ...], on: date, policy: Policy
) -> list[dict[str, Any]]:
    """Applicants whose talk was due before `on` and not held by the day it was due
    (`application_talk_days` after the application: a talk on that day is in time)."""
    days = policy.application_talk_days
    rows = db.query(
        f"{sub} SELECT m.id, m.name, o.code, m.applied_on,"
        " (SELECT min(t.effective_date) FROM rm_member_talks t WHERE t.member_id = m.id"
        "  AND t.effective_date >= m.applied_on AND t.effective_date <= ?)"
        " FROM rm_members m JOIN subtree s ON s.id = m.organisation_id"
        " JOIN rm_organisations o ON o.id = m.organisation_id"
        " WHERE m.status = 'ACTIVE' AND m.stage = 'APPLICANT' AND m.applied_on < ?"
        " ORDER BY o.code, m.name, m.id",
        (*params, on.isoformat(), (on - timedelta(days=days)).isoformat()),
    )
    found = []
    for member_id, name, code, applied_on, first_talk in rows:
        due = date.fromisoformat(applied_on) + timedelta(days=days)
        if first_talk is not None and date.fromisoformat(first_talk) <= due:
            continue
        found.append(
            {
                **dict(zip(_MEMBER_KEYS, (member_id, name, code), strict=True)),
                "applied_on": applied_on,
                "talk_due_by": due.isoformat(),
                "late_talk_on": first_talk,
            }
        )
    return found


def _admissions_without_community_opinion(
    db: Database, sub: str, params: tuple[Any, ...], on: date
) -> list[dict[str, Any]]:
    """Members admitted by `on` who reported to a community on the day of the branch
    meeting, and of whom that community gave no opinion from their application up to
    the meeting (a warning: *policy* of DOMAIN.md)."""
    rows = db.query(
        f"{sub} SELECT m.id, m.name, o.code, m.admitted_on, t.community_id, c.code"
        " FROM rm_members m JOIN subtree s ON s.id = m.organisation_id"
        " JOIN rm_organisations o ON o.id = m.organisation_id"
        " JOIN rm_member_timeline t ON t.member_id = m.id"
        "  AND t.valid_from <= m.admitted_on AND t.valid_to > m.admitted_on"
        " LEFT JOIN rm_organisations c ON c.id = t.community_id"
        " WHERE m.status = 'ACTIVE' AND m.stage IN ('PROBATIONARY', 'FULL')"
        " AND m.admitted_on <= ? AND t.community_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM rm_member_opinions p WHERE p.member_id = m.id"
        "  AND p.community_id = t.community_id AND p.effective_date >= m.applied_on"
        "  AND p.effective_date <= m.admitted_on)"
        " ORDER BY o.code, m.name, m.id",
        (*params, on.isoformat()),
    )
    return [
        {
            **dict(zip(_MEMBER_KEYS, r[:3], strict=True)),
            "admitted_on": r[3],
            "community_id": r[4],
            "community_code": r[5],
        }
        for r in rows
    ]


def _admissions_with_unit_exception(
    db: Database, sub: str, params: tuple[Any, ...], on: date
) -> list[dict[str, Any]]:
    """Admissions (by `on`) given despite a recent transfer, with the reason given."""
    rows = db.query(
        f"{sub} SELECT m.id, m.name, o.code, m.admitted_on, x.reason"
        " FROM rm_members m JOIN subtree s ON s.id = m.organisation_id"
        " JOIN rm_organisations o ON o.id = m.organisation_id"
        " JOIN rm_admission_exceptions x ON x.member_id = m.id"
        "  AND x.effective_date = m.admitted_on"
        " WHERE m.status = 'ACTIVE' AND m.stage IN ('PROBATIONARY', 'FULL')"
        " AND m.admitted_on <= ?"
        " ORDER BY o.code, m.name, m.id",
        (*params, on.isoformat()),
    )
    return [
        {**dict(zip(_MEMBER_KEYS, r[:3], strict=True)), "admitted_on": r[3], "reason": r[4]}
        for r in rows
    ]


def _units(
    db: Database, sub: str, params: tuple[Any, ...], policy: Policy
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = db.query(
        f"{sub} SELECT o.id, o.code, u.unit_code,"
        " (SELECT count(*) FROM rm_organisation_units x WHERE x.organisation_id = o.id),"
        " (SELECT count(*) FROM rm_members m WHERE m.organisation_id = o.id"
        "  AND m.status = 'ACTIVE' AND m.stage = 'FULL'),"
        " EXISTS (SELECT 1 FROM rm_organisations own WHERE own.status = 'ACTIVE'"
        "  AND (own.registration_number = u.unit_code OR own.code = u.unit_code))"
        " FROM rm_organisation_units u JOIN subtree s ON s.id = u.organisation_id"
        " JOIN rm_organisations o ON o.id = u.organisation_id WHERE o.status = 'ACTIVE'"
        " ORDER BY o.code, u.unit_code",
        params,
    )
    statuses: dict[str, UnitStatus] = {}
    covering: dict[str, str] = {}
    to_check: dict[str, dict[str, Any]] = {}
    for _, org_code, unit, units_covered, full, has_own in rows:
        if units_covered == 1:
            statuses[unit] = UnitStatus(int(full), bool(has_own))
            covering[unit] = org_code
        elif not has_own and full >= policy.own_organisation_min_full_members:
            entry = to_check.setdefault(
                org_code, {"organisation_code": org_code, "full_members": int(full), "units": []}
            )
            entry["units"].append(unit)
    needing = units_needing_organisation(statuses, policy)
    return (
        [
            {"unit_code": u, "full_members": statuses[u].full_members, "covered_by": covering[u]}
            for u in needing
        ],
        list(to_check.values()),
    )


def _over_size(
    db: Database, sub: str, params: tuple[Any, ...], policy: Policy
) -> list[dict[str, Any]]:
    """Branches holding more members than a branch should (*policy*), with the kind
    their size suggests."""
    rows = db.query(
        f"{sub} SELECT o.code, o.kind, count(*) FROM rm_members m"
        " JOIN subtree s ON s.id = m.organisation_id"
        " JOIN rm_organisations o ON o.id = m.organisation_id"
        " WHERE m.status = 'ACTIVE' AND m.stage IN ('PROBATIONARY', 'FULL')"
        " AND o.kind IN ('BRANCH', 'JOINT_BRANCH', 'TEMPORARY_BRANCH')"
        " GROUP BY o.code, o.kind HAVING count(*) > ? ORDER BY o.code",
        (*params, policy.branch_max_members),
    )
    return [
        {
            "organisation_code": c,
            "kind": k,
            "members": int(n),
            "suggested_kind": suggest_kind(int(n), policy).value,
        }
        for c, k, n in rows
    ]

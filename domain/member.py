"""The Member aggregate: one person's standing, from application onwards.

Each public method checks every rule first and only then triggers its event, so a
refused command leaves the aggregate untouched. Event methods only change state.

Membership episodes: a person is one Member aggregate for life. An exit (withdrawal,
removal, expulsion, death, cancellation of probation) closes the current episode;
only a new application (`reapply`) opens the next one, with `episode` counting up
and the closed ones kept in `past_episodes`.

Effective dates (bitemporal rule). Every event carries the date it took effect in
the world; eventsourcing's `timestamp` is when the registry recorded it. Changes
may arrive late and out of order. A late change, dated before the member's latest
event, is accepted when it is consistent with the history already recorded:

1. nothing takes effect after the day it is recorded (EFFECTIVE_DATE_IN_FUTURE),
   nor before the application that opened the current episode;
2. changes of the same thing stay in effective-date order: the thing is one of
   the development stage and standing ("stage"), the political review, the
   training, the sponsors, the transfer of the relationship, and each
   circumstance (the community registration goes with IN_SERVICE, the placement
   with MOBILE); a change dated before the latest change of its own thing is
   refused, one dated before changes of other things is accepted;
3. a change that needs a condition is dated on or after the day the condition
   arose (placement after MOBILE was set, admission after the review, training
   and sponsors, conversion after the end of probation);
4. an exit or a new application cuts the history in two, so it may not precede
   any change already recorded.

Refusals under 1, 2 and 4 use EFFECTIVE_DATE_BEFORE_HISTORY (or
EFFECTIVE_DATE_IN_FUTURE); under 3 the more specific code of the condition when
there is one.

Rules that warn rather than refuse, and one that refuses unless overridden:

* The talk with an applicant (入党谈话, `record_application_talk`) is due within
  `Policy.application_talk_days` (31) of the application. A talk is a fact, so a late
  one is recorded with `late=True`, not refused (like a late return slip); applicants
  still waiting past the deadline are a compliance view. The talk must fall in the
  applicant stage (TALK_OUTSIDE_APPLICANT_STAGE); several talks may be recorded.
* "A candidate who leaves their unit within 3 months of admission is generally not
  admitted there." Choice: a REFUSAL with an override, not a warning. A development
  target whose formal organisation changed (a transfer accepted) less than
  `Policy.admission_min_months_in_unit` (3) months before the branch meeting is
  refused ADMISSION_TOO_SOON_AFTER_TRANSFER unless the request gives an
  `exception_reason`, which the admission event records. "Generally" is the
  exception; a warning alone would let the usual case through unexamined, while the
  stated reason keeps the unusual case possible and on the record for auditors.
  (A transfer accepted on day T blocks meetings from T up to the day before T + 3
  months; a meeting on T + 3 months is in time.)
* A resident unit hears the opinion of the community a member reports to
  (`record_community_opinion`) before developing, admitting or promoting them. For
  that, reporting to a community (在职党员到社区报到) is open from the activist stage
  on, not only to members: the people a unit develops report too. An admission
  without an opinion from the community the member reports to, dated on or before
  the branch meeting, is a compliance view (*policy*: a warning); with
  `Policy.community_opinion_required` it is refused (COMMUNITY_OPINION_MISSING).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.authority import Approving, require_admission_authority, require_expulsion_authority
from domain.dates import add_months, add_years, whole_years_between
from domain.errors import DomainError
from domain.identity import CitizenId
from domain.member_state import AcceptedTransfer, EpisodeRecord, Transfer
from domain.policy import DEFAULT_POLICY, Policy
from domain.provenance import Provenance
from domain.rules import not_before, not_in_future, old_enough
from domain.vocabulary import Circumstance, ExitKind, Sex, Stage, Standing, SuspensionReason

__all__ = ["AcceptedTransfer", "EpisodeRecord", "Member", "Sponsor", "Transfer"]

_MEMBER_STAGES = (Stage.PROBATIONARY, Stage.FULL)
# Who may report to a community: the people a unit develops, and its members.
_REPORTING_STAGES = (Stage.ACTIVIST, Stage.DEVELOPMENT_TARGET, *_MEMBER_STAGES)
_STAGE_THREAD = "stage"
_TRANSFER_THREAD = "transfer"
_TALK_THREAD = "talk"


def _circumstance_thread(circumstance: Circumstance) -> str:
    return f"circumstance:{circumstance.value}"


class Sponsor(Protocol):
    """A proposed sponsor: a Member aggregate, or the same two facts from a read model."""

    @property
    def id(self) -> UUID: ...

    @property
    def may_sponsor(self) -> bool: ...


class Member(Aggregate):
    """A person known to the registry, identified by an opaque id (never the ID number).

    Commands trigger their events with eventsourcing's `trigger_event` and the event
    classes the `@event` methods define (`self.trigger_event(self.Died, ...)`), and the
    application creates with `_create(cls.Applied, id=...)`: calling a decorated method
    or the class instead coerces and filters the arguments against the method's
    signature on every call, about half of a command's cost here. Same events, same
    state; the decorated methods still say how each event changes the aggregate."""

    @staticmethod
    def create_id(member_id: UUID, **_: Any) -> UUID:
        return member_id

    @classmethod
    def apply(
        cls,
        *,
        member_id: UUID,
        citizen_id: CitizenId,
        name: str,
        ethnicity: str,
        education: str,
        occupation: str,
        phone: str,
        address: str,
        organisation_id: UUID,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        policy: Policy = DEFAULT_POLICY,
    ) -> Member:
        not_in_future(effective_date, recorded_on)
        old_enough(citizen_id.birth_date, effective_date, policy)
        return cls._create(
            cls.Applied,
            id=member_id,
            member_id=member_id,
            citizen_id=citizen_id.number,
            name=name,
            sex=citizen_id.sex.value,
            birth_date=citizen_id.birth_date,
            ethnicity=ethnicity,
            education=education,
            occupation=occupation,
            phone=phone,
            address=address,
            organisation_id=organisation_id,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("Applied")
    def __init__(
        self,
        *,
        member_id: UUID,
        citizen_id: str,
        name: str,
        sex: str,
        birth_date: date,
        ethnicity: str,
        education: str,
        occupation: str,
        phone: str,
        address: str,
        organisation_id: UUID,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.citizen_id = citizen_id
        self.sex = Sex(sex)
        self.birth_date = birth_date
        self.episode = 1
        self.past_episodes: list[EpisodeRecord] = []
        self.circumstances: dict[Circumstance, date] = {}
        self.latest_effective_date: date = effective_date
        self._open_episode(
            name=name,
            ethnicity=ethnicity,
            education=education,
            occupation=occupation,
            organisation_id=organisation_id,
            applied_on=effective_date,
        )

    def _open_episode(
        self,
        *,
        name: str,
        ethnicity: str,
        education: str,
        occupation: str,
        organisation_id: UUID,
        applied_on: date,
    ) -> None:
        # Contact details stay in the encrypted events only: no rule reads them.
        self.name = name
        self.ethnicity = ethnicity
        self.education = education
        self.occupation = occupation
        self.organisation_id = organisation_id
        self.applied_on: date = applied_on
        self.stage: Stage = Stage.APPLICANT
        self.stage_since: date = applied_on
        self.activist_since: date | None = None
        self.target_since: date | None = None
        self.political_review_passed: bool | None = None
        self.political_review_on: date | None = None
        self.training_days = 0
        self.training_hours = 0
        self.training_on: date | None = None
        self.sponsor_ids: list[UUID] = []
        self.sponsors_named_on: date | None = None
        self.admitted_on: date | None = None
        self.admission_approved_on: date | None = None
        self.probation_ends_on: date | None = None
        self.probation_extended = False
        self.full_since: date | None = None
        self.standing: Standing = Standing.NORMAL
        self.standing_since: date | None = None
        self.standing_until: date | None = None
        self.exit_kind: ExitKind | None = None
        self.exited_on: date | None = None
        self.transfer: Transfer | None = None
        self.awaiting_return_slip: AcceptedTransfer | None = None
        self.community_id: UUID | None = None
        self.community_since: date | None = None
        self.placement_organisation_id: UUID | None = None
        self.placement_since: date | None = None
        # The talks with the applicant (入党谈话), by effective date.
        self.application_talks: tuple[date, ...] = ()
        # Days the formal organisation changed by an accepted transfer, this episode.
        self.transfers_accepted_on: tuple[date, ...] = ()
        # Earliest opinion heard from each community, this episode.
        self.community_opinions: dict[UUID, date] = {}
        # Latest effective date of each thing that changes in order (rule 2).
        self.thread_dates: dict[str, date] = {}

    # -- derived facts --------------------------------------------------------

    @property
    def episode_open(self) -> bool:
        return self.exit_kind is None

    @property
    def is_member(self) -> bool:
        """A probationary or full member of an open episode."""
        return self.episode_open and self.stage in _MEMBER_STAGES

    @property
    def has_voting_rights(self) -> bool:
        # Probationary members, members under party probation and suspended members
        # take part in party life but do not vote.
        return (
            self.episode_open
            and self.stage is Stage.FULL
            and self.standing in (Standing.NORMAL, Standing.CORRECTION)
        )

    @property
    def may_sponsor(self) -> bool:
        return self.has_voting_rights

    def party_standing(self, as_of: date) -> int | None:
        """党龄 in completed years on `as_of`, counted from the end of probation.

        None before full membership. Only the current episode counts: an exit ends
        standing, and a new application starts from nothing. Suspension does not
        stop the count.
        """
        if self.full_since is None or as_of < self.full_since:
            return None
        end = min(as_of, self.exited_on) if self.exited_on else as_of
        return whole_years_between(self.full_since, end)

    def time_as_activist(self, as_of: date) -> int:
        """Days since the activist decision; transfers do not reset it."""
        if self.activist_since is None:
            return 0
        return max((as_of - self.activist_since).days, 0)

    # -- a new membership episode --------------------------------------------

    def reapply(
        self,
        *,
        name: str,
        ethnicity: str,
        education: str,
        occupation: str,
        phone: str,
        address: str,
        organisation_id: UUID,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        if self.episode_open:
            raise DomainError(
                "ALREADY_A_MEMBER",
                "the current membership episode is still open",
                episode=self.episode,
                stage=self.stage.value,
            )
        not_in_future(effective_date, recorded_on)
        not_before(self.latest_effective_date, effective_date, "latest recorded change")
        old_enough(self.birth_date, effective_date, policy)
        self.trigger_event(
            self.Reapplied,
            episode=self.episode + 1,
            name=name,
            ethnicity=ethnicity,
            education=education,
            occupation=occupation,
            phone=phone,
            address=address,
            organisation_id=organisation_id,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("Reapplied")
    def _reapplied(
        self,
        episode: int,
        name: str,
        ethnicity: str,
        education: str,
        occupation: str,
        phone: str,
        address: str,
        organisation_id: UUID,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        assert self.exit_kind is not None and self.exited_on is not None
        self.past_episodes = [
            *self.past_episodes,
            EpisodeRecord(
                episode=self.episode,
                applied_on=self.applied_on,
                full_since=self.full_since,
                exited_on=self.exited_on,
                exit_kind=self.exit_kind,
            ),
        ]
        self.episode = episode
        self._open_episode(
            name=name,
            ethnicity=ethnicity,
            education=education,
            occupation=occupation,
            organisation_id=organisation_id,
            applied_on=effective_date,
        )
        self._advance(None, effective_date)

    # -- the talk with an applicant ---------------------------------------------

    def record_application_talk(
        self,
        *,
        held_by: UUID,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        """入党谈话: the organisation `held_by` talked with the applicant on `effective_date`.

        Due within `policy.application_talk_days` of the application; a later talk is
        recorded as late, not refused.
        """
        self._require_open()
        not_in_future(effective_date, recorded_on)
        self._in_order(_TALK_THREAD, effective_date, "latest talk")
        if self.activist_since is not None and effective_date > self.activist_since:
            raise DomainError(
                "TALK_OUTSIDE_APPLICANT_STAGE",
                "the talk is dated after the activist decision",
                effective_date=effective_date.isoformat(),
                activist_since=self.activist_since.isoformat(),
            )
        due = self.applied_on + timedelta(days=policy.application_talk_days)
        self.trigger_event(
            self.ApplicationTalkHeld,
            held_by=held_by,
            late=effective_date > due,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("ApplicationTalkHeld")
    def _application_talk_held(
        self, held_by: UUID, late: bool, effective_date: date, request_id: str, source_system: str
    ) -> None:
        self.application_talks = tuple(sorted((*self.application_talks, effective_date)))
        self._advance(_TALK_THREAD, effective_date)

    # -- development stages -------------------------------------------------

    def admit_as_activist(
        self,
        *,
        decided_by: UUID,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
    ) -> None:
        self._require_open()
        self._require_stage(Stage.APPLICANT, wanted=Stage.ACTIVIST)
        not_in_future(effective_date, recorded_on)
        self._in_order(_STAGE_THREAD, effective_date, "application date")
        # The talks recorded were held with an applicant: the decision comes after them.
        not_before(self.thread_dates.get(_TALK_THREAD), effective_date, "talk with the applicant")
        self.trigger_event(
            self.ActivistAdmitted,
            decided_by=decided_by,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("ActivistAdmitted")
    def _activist_admitted(
        self, decided_by: UUID, effective_date: date, request_id: str, source_system: str
    ) -> None:
        self.stage = Stage.ACTIVIST
        self.stage_since = effective_date
        self.activist_since = effective_date
        self._advance(_STAGE_THREAD, effective_date)

    def admit_as_development_target(
        self,
        *,
        decided_by: UUID,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        self._require_open()
        self._require_stage(Stage.ACTIVIST, wanted=Stage.DEVELOPMENT_TARGET)
        not_in_future(effective_date, recorded_on)
        self._in_order(_STAGE_THREAD, effective_date, "activist decision")
        assert self.activist_since is not None
        earliest = add_years(self.activist_since, policy.activist_min_years)
        if effective_date < earliest:
            raise DomainError(
                "ACTIVIST_PERIOD_TOO_SHORT",
                f"needs {policy.activist_min_years} year(s) as activist",
                activist_since=self.activist_since.isoformat(),
                effective_date=effective_date.isoformat(),
                earliest=earliest.isoformat(),
                days_as_activist=(effective_date - self.activist_since).days,
            )
        self.trigger_event(
            self.DevelopmentTargetAdmitted,
            decided_by=decided_by,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("DevelopmentTargetAdmitted")
    def _development_target_admitted(
        self, decided_by: UUID, effective_date: date, request_id: str, source_system: str
    ) -> None:
        self.stage = Stage.DEVELOPMENT_TARGET
        self.stage_since = effective_date
        self.target_since = effective_date
        self._advance(_STAGE_THREAD, effective_date)

    def record_political_review(
        self,
        *,
        passed: bool,
        reviewed_by: UUID,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
    ) -> None:
        self._require_target_step(effective_date, recorded_on, "review", "political review")
        self.trigger_event(
            self.PoliticalReviewRecorded,
            passed=passed,
            reviewed_by=reviewed_by,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("PoliticalReviewRecorded")
    def _political_review_recorded(
        self,
        passed: bool,
        reviewed_by: UUID,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.political_review_passed = passed
        self.political_review_on = effective_date
        self._advance("review", effective_date)

    def record_training(
        self,
        *,
        days: int,
        hours: int,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
    ) -> None:
        """A training course attended as development target; courses add up."""
        self._require_target_step(effective_date, recorded_on, "training", "training")
        if days < 0 or hours < 0 or days + hours == 0:
            raise DomainError(
                "INVALID_REQUEST",
                "training needs a positive number of days or hours",
                days=days,
                hours=hours,
            )
        self.trigger_event(
            self.TrainingRecorded,
            days=days,
            hours=hours,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("TrainingRecorded")
    def _training_recorded(
        self, days: int, hours: int, effective_date: date, request_id: str, source_system: str
    ) -> None:
        self.training_days += days
        self.training_hours += hours
        self.training_on = effective_date
        self._advance("training", effective_date)

    def name_sponsors(
        self,
        *,
        sponsors: Sequence[Sponsor],
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        """Names the sponsors (入党介绍人), replacing any named before."""
        self._require_target_step(effective_date, recorded_on, "sponsors", "sponsors")
        ids = [s.id for s in sponsors]
        if len(ids) != policy.sponsors_required or len(set(ids)) != len(ids):
            raise DomainError(
                "SPONSOR_COUNT",
                f"needs exactly {policy.sponsors_required} distinct sponsors",
                sponsor_ids=[str(i) for i in ids],
            )
        for sponsor in sponsors:
            if sponsor.id == self.id or not sponsor.may_sponsor:
                raise DomainError(
                    "SPONSOR_NOT_ELIGIBLE",
                    "a sponsor must be another full member in good standing",
                    sponsor_id=str(sponsor.id),
                )
        self.trigger_event(
            self.SponsorsNamed, sponsor_ids=ids, effective_date=effective_date, **by.fields()
        )

    @event("SponsorsNamed")
    def _sponsors_named(
        self,
        sponsor_ids: list[UUID],
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.sponsor_ids = list(sponsor_ids)
        self.sponsors_named_on = effective_date
        self._advance("sponsors", effective_date)

    def admit_as_probationary(
        self,
        *,
        decided_by: UUID,
        approver: Approving,
        approved_on: date,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        delay_reason: str | None = None,
        exception_reason: str | None = None,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        """Admission voted by the branch general meeting on `effective_date`.

        Membership and probation run from that meeting; `approved_on` is the day the
        committee `approver` approved it, within the policy window (longer only with
        a `delay_reason`). A target whose formal organisation changed within the policy
        months before the meeting is admitted only with an `exception_reason`.
        """
        self._require_open()
        self._require_stage(Stage.DEVELOPMENT_TARGET, wanted=Stage.PROBATIONARY)
        not_in_future(effective_date, recorded_on)
        not_in_future(approved_on, recorded_on)
        self._in_order(_STAGE_THREAD, effective_date, "development target decision")
        if not self.political_review_passed:
            raise DomainError(
                "POLITICAL_REVIEW_MISSING",
                "no passed political review is recorded",
                political_review_passed=self.political_review_passed,
            )
        if not (
            self.training_days >= policy.training_min_days
            or self.training_hours >= policy.training_min_hours
        ):
            raise DomainError(
                "TRAINING_INSUFFICIENT",
                f"needs {policy.training_min_days} days or {policy.training_min_hours} hours",
                training_days=self.training_days,
                training_hours=self.training_hours,
            )
        if len(self.sponsor_ids) != policy.sponsors_required:
            raise DomainError(
                "SPONSOR_COUNT",
                f"needs {policy.sponsors_required} named sponsors",
                sponsor_ids=[str(i) for i in self.sponsor_ids],
            )
        not_before(self.political_review_on, effective_date, "political review")
        not_before(self.training_on, effective_date, "training")
        not_before(self.sponsors_named_on, effective_date, "naming of the sponsors")
        self._require_time_in_unit(effective_date, exception_reason, policy)
        self._require_community_opinion(effective_date, policy)
        require_admission_authority(approver, "an admission")
        self._approval_after(effective_date, approved_on)
        months = (
            policy.admission_approval_max_months
            if delay_reason
            else policy.admission_approval_months
        )
        deadline = add_months(effective_date, months)
        if approved_on > deadline:
            raise DomainError(
                "APPROVAL_WINDOW_EXCEEDED",
                f"approval must come within {months} months of the branch meeting",
                branch_meeting=effective_date.isoformat(),
                approved_on=approved_on.isoformat(),
                deadline=deadline.isoformat(),
                delay_reason=delay_reason,
            )
        self.trigger_event(
            self.ProbationaryAdmitted,
            decided_by=decided_by,
            approved_by=approver.id,
            approved_on=approved_on,
            delay_reason=delay_reason,
            exception_reason=exception_reason,
            sponsor_ids=list(self.sponsor_ids),
            probation_ends_on=add_years(effective_date, policy.probation_years),
            effective_date=effective_date,
            **by.fields(),
        )

    @event("ProbationaryAdmitted")
    def _probationary_admitted(
        self,
        decided_by: UUID,
        approved_by: UUID,
        approved_on: date,
        delay_reason: str | None,
        sponsor_ids: list[UUID],
        probation_ends_on: date,
        effective_date: date,
        request_id: str,
        source_system: str,
        # Stored admissions from before the rule have none.
        exception_reason: str | None = None,
    ) -> None:
        self.stage = Stage.PROBATIONARY
        self.stage_since = effective_date
        self.admitted_on = effective_date
        self.admission_approved_on = approved_on
        self.probation_ends_on = probation_ends_on
        self._advance(_STAGE_THREAD, effective_date)

    def _require_time_in_unit(
        self, effective_date: date, exception_reason: str | None, policy: Policy
    ) -> None:
        months = policy.admission_min_months_in_unit
        recent = [
            joined
            for joined in self.transfers_accepted_on
            if joined <= effective_date < add_months(joined, months)
        ]
        if recent and not exception_reason:
            joined = max(recent)
            raise DomainError(
                "ADMISSION_TOO_SOON_AFTER_TRANSFER",
                f"the formal organisation changed less than {months} months before the "
                "branch meeting; admission there needs an exception reason",
                transfer_accepted_on=joined.isoformat(),
                branch_meeting=effective_date.isoformat(),
                earliest=add_months(joined, months).isoformat(),
            )

    def _require_community_opinion(self, effective_date: date, policy: Policy) -> None:
        if not policy.community_opinion_required or self.community_id is None:
            return
        heard = self.community_opinions.get(self.community_id)
        if heard is None or heard > effective_date:
            raise DomainError(
                "COMMUNITY_OPINION_MISSING",
                "no opinion of the community the member reports to was heard by the meeting",
                community_id=str(self.community_id),
                branch_meeting=effective_date.isoformat(),
                opinion_heard_on=heard.isoformat() if heard else None,
            )

    def convert(
        self,
        *,
        decided_by: UUID,
        approver: Approving,
        approved_on: date,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
    ) -> None:
        """转正: the branch resolution of `effective_date`, approved on `approved_on`.

        Full membership, and party standing, count from the end of probation.
        """
        self._require_probation_end(effective_date, recorded_on, approved_on)
        require_admission_authority(approver, "a conversion")
        self._approval_after(effective_date, approved_on)
        assert self.probation_ends_on is not None
        self.trigger_event(
            self.Converted,
            decided_by=decided_by,
            approved_by=approver.id,
            approved_on=approved_on,
            full_since=self.probation_ends_on,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("Converted")
    def _converted(
        self,
        decided_by: UUID,
        approved_by: UUID,
        approved_on: date,
        full_since: date,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.stage = Stage.FULL
        self.stage_since = effective_date
        self.full_since = full_since
        self.standing = Standing.NORMAL
        self.standing_since = full_since
        self._advance(_STAGE_THREAD, effective_date)

    def extend_probation(
        self,
        *,
        months: int,
        decided_by: UUID,
        approver: Approving,
        approved_on: date,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        self._require_probation_end(effective_date, recorded_on, approved_on)
        if self.probation_extended:
            raise DomainError(
                "PROBATION_ALREADY_EXTENDED",
                "probation was extended before",
                probation_ends_on=str(self.probation_ends_on),
            )
        lo, hi = policy.probation_extension_min_months, policy.probation_extension_max_months
        if not lo <= months <= hi:
            raise DomainError(
                "EXTENSION_OUT_OF_RANGE", f"an extension lasts {lo} to {hi} months", months=months
            )
        require_admission_authority(approver, "an extension of probation")
        self._approval_after(effective_date, approved_on)
        assert self.probation_ends_on is not None
        self.trigger_event(
            self.ProbationExtended,
            months=months,
            decided_by=decided_by,
            approved_by=approver.id,
            approved_on=approved_on,
            probation_ends_on=add_months(self.probation_ends_on, months),
            effective_date=effective_date,
            **by.fields(),
        )

    @event("ProbationExtended")
    def _probation_extended(
        self,
        months: int,
        decided_by: UUID,
        approved_by: UUID,
        approved_on: date,
        probation_ends_on: date,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.probation_extended = True
        self.probation_ends_on = probation_ends_on
        self._advance(_STAGE_THREAD, effective_date)

    def cancel_probation(
        self,
        *,
        reason: str,
        decided_by: UUID,
        approver: Approving,
        approved_on: date,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
    ) -> None:
        """取消预备党员资格: at the end of probation or, for cause, during it."""
        self._require_open()
        self._require_stage(Stage.PROBATIONARY, wanted="cancelling probation")
        not_in_future(effective_date, recorded_on)
        not_in_future(approved_on, recorded_on)
        self._exit_in_order(effective_date)
        require_admission_authority(approver, "a cancellation of probation")
        self._approval_after(effective_date, approved_on)
        self.trigger_event(
            self.ProbationCancelled,
            reason=reason,
            decided_by=decided_by,
            approved_by=approver.id,
            approved_on=approved_on,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("ProbationCancelled")
    def _probation_cancelled(
        self,
        reason: str,
        decided_by: UUID,
        approved_by: UUID,
        approved_on: date,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self._close_episode(ExitKind.CANCELLED, effective_date)

    # -- standing of full members -------------------------------------------

    def order_correction(
        self,
        *,
        until: date,
        decided_by: UUID,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        """限期改正 until `until`, at most one year later."""
        self._require_full(effective_date, recorded_on, allowed=(Standing.NORMAL,))
        _limited_period(
            "CORRECTION_TOO_LONG",
            "a correction",
            effective_date,
            until,
            policy.correction_max_months,
        )
        self.trigger_event(
            self.CorrectionOrdered,
            decided_by=decided_by,
            until=until,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("CorrectionOrdered")
    def _correction_ordered(
        self,
        decided_by: UUID,
        until: date,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self._set_standing(Standing.CORRECTION, effective_date, until)

    def end_correction(self, *, effective_date: date, recorded_on: date, by: Provenance) -> None:
        self._require_full(effective_date, recorded_on, allowed=(Standing.CORRECTION,))
        self.trigger_event(self.CorrectionEnded, effective_date=effective_date, **by.fields())

    @event("CorrectionEnded")
    def _correction_ended(self, effective_date: date, request_id: str, source_system: str) -> None:
        self._set_standing(Standing.NORMAL, effective_date, None)

    def impose_party_probation(
        self,
        *,
        until: date,
        decided_by: UUID,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        """留党察看 until `until`, at most two years; no voting rights meanwhile."""
        self._require_full(
            effective_date, recorded_on, allowed=(Standing.NORMAL, Standing.CORRECTION)
        )
        _limited_period(
            "PARTY_PROBATION_TOO_LONG",
            "party probation",
            effective_date,
            until,
            policy.party_probation_max_months,
        )
        self.trigger_event(
            self.PartyProbationImposed,
            decided_by=decided_by,
            until=until,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("PartyProbationImposed")
    def _party_probation_imposed(
        self,
        decided_by: UUID,
        until: date,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self._set_standing(Standing.PARTY_PROBATION, effective_date, until)

    def end_party_probation(
        self, *, effective_date: date, recorded_on: date, by: Provenance
    ) -> None:
        """The period is over and rights come back (an expulsion is `expel`)."""
        self._require_full(effective_date, recorded_on, allowed=(Standing.PARTY_PROBATION,))
        assert self.standing_until is not None
        if effective_date < self.standing_until:
            raise DomainError(
                "PARTY_PROBATION_NOT_ENDED",
                "the party probation period is not over",
                until=self.standing_until.isoformat(),
                effective_date=effective_date.isoformat(),
            )
        self.trigger_event(self.PartyProbationEnded, effective_date=effective_date, **by.fields())

    @event("PartyProbationEnded")
    def _party_probation_ended(
        self, effective_date: date, request_id: str, source_system: str
    ) -> None:
        self._set_standing(Standing.NORMAL, effective_date, None)

    def suspend(
        self,
        *,
        reason: SuspensionReason,
        out_of_touch_since: date | None,
        decided_by: UUID,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        """停止党籍 after lost contact (give `out_of_touch_since`) or settling abroad."""
        self._require_full(
            effective_date, recorded_on, allowed=(Standing.NORMAL, Standing.CORRECTION)
        )
        if reason is SuspensionReason.LOST_CONTACT:
            # A date after the suspension is refused before the months are counted on
            # from it: from the calendar's last half year there is no date to count to.
            earliest = (
                add_months(out_of_touch_since, policy.lost_contact_min_months)
                if out_of_touch_since and out_of_touch_since <= effective_date
                else None
            )
            if earliest is None or effective_date < earliest:
                raise DomainError(
                    "LOST_CONTACT_TOO_SHORT",
                    f"needs {policy.lost_contact_min_months} months of lost contact",
                    out_of_touch_since=str(out_of_touch_since) if out_of_touch_since else None,
                    effective_date=effective_date.isoformat(),
                )
        self.trigger_event(
            self.Suspended,
            reason=reason.value,
            out_of_touch_since=out_of_touch_since,
            decided_by=decided_by,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("Suspended")
    def _suspended(
        self,
        reason: str,
        out_of_touch_since: date | None,
        decided_by: UUID,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self._set_standing(Standing.SUSPENDED, effective_date, None)

    def restore(
        self, *, decided_by: UUID, effective_date: date, recorded_on: date, by: Provenance
    ) -> None:
        """恢复党籍: only from suspension."""
        self._require_open()
        self._require_stage(Stage.FULL, wanted="restoration")
        if self.standing is not Standing.SUSPENDED:
            raise DomainError(
                "NOT_SUSPENDED", "only a suspended member is restored", standing=self.standing.value
            )
        not_in_future(effective_date, recorded_on)
        self._in_order(_STAGE_THREAD, effective_date, "suspension")
        self.trigger_event(
            self.Restored, decided_by=decided_by, effective_date=effective_date, **by.fields()
        )

    @event("Restored")
    def _restored(
        self, decided_by: UUID, effective_date: date, request_id: str, source_system: str
    ) -> None:
        self._set_standing(Standing.NORMAL, effective_date, None)

    # -- exits ----------------------------------------------------------------

    def withdraw(
        self,
        *,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        reason: str | None = None,
    ) -> None:
        """退党; before admission, the application is withdrawn."""
        self._require_open()
        not_in_future(effective_date, recorded_on)
        self._exit_in_order(effective_date)
        self.trigger_event(
            self.Withdrawn, reason=reason, effective_date=effective_date, **by.fields()
        )

    @event("Withdrawn")
    def _withdrawn(
        self, reason: str | None, effective_date: date, request_id: str, source_system: str
    ) -> None:
        self._close_episode(ExitKind.WITHDRAWN, effective_date)

    def remove(
        self,
        *,
        reason: str,
        decided_by: UUID,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        """除名, e.g. lapsed 6 months without party life or dues, or 2 years suspended."""
        self._require_open()
        self._require_stage(Stage.FULL, wanted="removal")
        not_in_future(effective_date, recorded_on)
        self._exit_in_order(effective_date)
        if self.standing is Standing.SUSPENDED:
            assert self.standing_since is not None
            earliest = add_years(self.standing_since, policy.suspension_before_removal_years)
            if effective_date < earliest:
                raise DomainError(
                    "SUSPENSION_TOO_SHORT",
                    f"a suspended member is removed after "
                    f"{policy.suspension_before_removal_years} years",
                    suspended_on=self.standing_since.isoformat(),
                    effective_date=effective_date.isoformat(),
                    earliest=earliest.isoformat(),
                )
        self.trigger_event(
            self.Removed,
            reason=reason,
            decided_by=decided_by,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("Removed")
    def _removed(
        self,
        reason: str,
        decided_by: UUID,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self._close_episode(ExitKind.REMOVED, effective_date)

    def expel(
        self,
        *,
        reason: str,
        decided_by: UUID,
        approver: Approving,
        approved_on: date,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
    ) -> None:
        """开除党籍, approved by a committee at county level or above."""
        self._require_open()
        self._require_stage(Stage.FULL, wanted="expulsion")
        not_in_future(effective_date, recorded_on)
        not_in_future(approved_on, recorded_on)
        self._exit_in_order(effective_date)
        require_expulsion_authority(approver)
        self._approval_after(effective_date, approved_on)
        self.trigger_event(
            self.Expelled,
            reason=reason,
            decided_by=decided_by,
            approved_by=approver.id,
            approved_on=approved_on,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("Expelled")
    def _expelled(
        self,
        reason: str,
        decided_by: UUID,
        approved_by: UUID,
        approved_on: date,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self._close_episode(ExitKind.EXPELLED, effective_date)

    def record_death(self, *, effective_date: date, recorded_on: date, by: Provenance) -> None:
        self._require_open()
        not_in_future(effective_date, recorded_on)
        self._exit_in_order(effective_date)
        self.trigger_event(self.Died, effective_date=effective_date, **by.fields())

    @event("Died")
    def _died(self, effective_date: date, request_id: str, source_system: str) -> None:
        self._close_episode(ExitKind.DIED, effective_date)

    def _close_episode(self, kind: ExitKind, effective_date: date) -> None:
        # An exit ends whatever was open with it: a transfer in transit, a community
        # registration, a placement. Circumstances belong to the person and stay.
        self.exit_kind = kind
        self.exited_on = effective_date
        self.transfer = None
        self.awaiting_return_slip = None
        self.community_id = None
        self.community_since = None
        self.placement_organisation_id = None
        self.placement_since = None
        self._advance(_STAGE_THREAD, effective_date)

    # -- circumstances ----------------------------------------------------------

    def set_circumstance(
        self,
        *,
        circumstance: Circumstance,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
    ) -> None:
        self._require_open()
        not_in_future(effective_date, recorded_on)
        if circumstance in self.circumstances:
            raise DomainError(
                "CIRCUMSTANCE_ALREADY_SET",
                f"{circumstance.value} is already set",
                circumstance=circumstance.value,
                since=self.circumstances[circumstance].isoformat(),
            )
        thread = _circumstance_thread(circumstance)
        self._in_order(thread, effective_date, f"latest {circumstance.value} change")
        self.trigger_event(
            self.CircumstanceSet,
            circumstance=circumstance.value,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("CircumstanceSet")
    def _circumstance_set(
        self, circumstance: str, effective_date: date, request_id: str, source_system: str
    ) -> None:
        c = Circumstance(circumstance)
        self.circumstances = {**self.circumstances, c: effective_date}
        self._advance(_circumstance_thread(c), effective_date)

    def clear_circumstance(
        self,
        *,
        circumstance: Circumstance,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
    ) -> None:
        self._require_open()
        not_in_future(effective_date, recorded_on)
        if circumstance not in self.circumstances:
            raise DomainError(
                "CIRCUMSTANCE_NOT_SET",
                f"{circumstance.value} is not set",
                circumstance=circumstance.value,
            )
        in_use = (circumstance is Circumstance.IN_SERVICE and self.community_id) or (
            circumstance is Circumstance.MOBILE and self.placement_organisation_id
        )
        if in_use:
            raise DomainError(
                "CIRCUMSTANCE_IN_USE",
                f"{circumstance.value} is needed by a current registration or placement",
                circumstance=circumstance.value,
            )
        thread = _circumstance_thread(circumstance)
        self._in_order(thread, effective_date, f"latest {circumstance.value} change")
        self.trigger_event(
            self.CircumstanceCleared,
            circumstance=circumstance.value,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("CircumstanceCleared")
    def _circumstance_cleared(
        self, circumstance: str, effective_date: date, request_id: str, source_system: str
    ) -> None:
        c = Circumstance(circumstance)
        self.circumstances = {k: v for k, v in self.circumstances.items() if k is not c}
        self._advance(_circumstance_thread(c), effective_date)

    # -- in-service members reporting to a community ------------------------------

    def register_with_community(
        self,
        *,
        community_id: UUID,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
    ) -> None:
        """在职党员到社区报到; the formal organisation does not change.

        Open from the activist stage on: a unit hears the community about the people
        it develops as well as about its members.
        """
        thread = self._require_circumstance_member(
            Circumstance.IN_SERVICE, effective_date, recorded_on, stages=_REPORTING_STAGES
        )
        if self.community_id is not None:
            raise DomainError(
                "ALREADY_REGISTERED_WITH_COMMUNITY",
                "the member already reports to a community",
                community_id=str(self.community_id),
            )
        self._in_order(thread, effective_date, "latest in-service change")
        self.trigger_event(
            self.CommunityRegistered,
            community_id=community_id,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("CommunityRegistered")
    def _community_registered(
        self, community_id: UUID, effective_date: date, request_id: str, source_system: str
    ) -> None:
        self.community_id = community_id
        self.community_since = effective_date
        self._advance(_circumstance_thread(Circumstance.IN_SERVICE), effective_date)

    def end_community_registration(
        self, *, effective_date: date, recorded_on: date, by: Provenance
    ) -> None:
        community_id = self._require_community(effective_date, recorded_on, None)
        self.trigger_event(
            self.CommunityRegistrationEnded,
            community_id=community_id,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("CommunityRegistrationEnded")
    def _community_registration_ended(
        self, community_id: UUID, effective_date: date, request_id: str, source_system: str
    ) -> None:
        self.community_id = None
        self.community_since = None
        self._advance(_circumstance_thread(Circumstance.IN_SERVICE), effective_date)

    def record_community_feedback(
        self,
        *,
        community_id: UUID,
        to_organisation_id: UUID,
        summary: str,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
    ) -> None:
        """The community reports on the member's community work to their unit organisation."""
        self._require_community(effective_date, recorded_on, community_id)
        self.trigger_event(
            self.CommunityFeedbackSent,
            community_id=community_id,
            to_organisation_id=to_organisation_id,
            summary=summary,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("CommunityFeedbackSent")
    def _community_feedback_sent(
        self,
        community_id: UUID,
        to_organisation_id: UUID,
        summary: str,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self._advance(_circumstance_thread(Circumstance.IN_SERVICE), effective_date)

    def record_community_opinion(
        self,
        *,
        community_id: UUID,
        summary: str,
        favourable: bool,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
    ) -> None:
        """The opinion of the community the member reports to, heard by the unit before it
        develops, admits or promotes them."""
        self._require_community(effective_date, recorded_on, community_id)
        self.trigger_event(
            self.CommunityOpinionHeard,
            community_id=community_id,
            summary=summary,
            favourable=favourable,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("CommunityOpinionHeard")
    def _community_opinion_heard(
        self,
        community_id: UUID,
        summary: str,
        favourable: bool,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        earliest = min(effective_date, self.community_opinions.get(community_id, effective_date))
        self.community_opinions = {**self.community_opinions, community_id: earliest}
        self._advance(_circumstance_thread(Circumstance.IN_SERVICE), effective_date)

    def _require_community(
        self, effective_date: date, recorded_on: date, community_id: UUID | None
    ) -> UUID:
        self._require_open()
        not_in_future(effective_date, recorded_on)
        if self.community_id is None or community_id not in (None, self.community_id):
            raise DomainError(
                "NOT_REGISTERED_WITH_COMMUNITY",
                "the member does not report to that community",
                community_id=str(community_id) if community_id else None,
                registered_with=str(self.community_id) if self.community_id else None,
            )
        thread = _circumstance_thread(Circumstance.IN_SERVICE)
        self._in_order(thread, effective_date, "community registration")
        return self.community_id

    # -- placement of mobile members ------------------------------------------------

    def place(
        self,
        *,
        organisation_id: UUID,
        identity_verified: bool,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        card_number: str | None = None,
    ) -> None:
        """编入 a basic organisation where a mobile member is; the formal one stays."""
        thread = self._require_circumstance_member(Circumstance.MOBILE, effective_date, recorded_on)
        if not identity_verified:
            raise DomainError("IDENTITY_NOT_VERIFIED", "the member's identity was not verified")
        if self.placement_organisation_id is not None:
            raise DomainError(
                "ALREADY_PLACED",
                "the member is already placed",
                placement_organisation_id=str(self.placement_organisation_id),
            )
        if organisation_id == self.organisation_id:
            raise DomainError(
                "PLACEMENT_IN_OWN_ORGANISATION",
                "the member already belongs to that organisation",
                organisation_id=str(organisation_id),
            )
        self._in_order(thread, effective_date, "latest mobile change")
        self.trigger_event(
            self.Placed,
            placement_organisation_id=organisation_id,
            card_number=card_number,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("Placed")
    def _placed(
        self,
        placement_organisation_id: UUID,
        card_number: str | None,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.placement_organisation_id = placement_organisation_id
        self.placement_since = effective_date
        self._advance(_circumstance_thread(Circumstance.MOBILE), effective_date)

    def end_placement(self, *, effective_date: date, recorded_on: date, by: Provenance) -> None:
        self._require_open()
        not_in_future(effective_date, recorded_on)
        if self.placement_organisation_id is None:
            raise DomainError("NOT_PLACED", "the member is not placed")
        thread = _circumstance_thread(Circumstance.MOBILE)
        self._in_order(thread, effective_date, "placement")
        self.trigger_event(
            self.PlacementEnded,
            placement_organisation_id=self.placement_organisation_id,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("PlacementEnded")
    def _placement_ended(
        self,
        placement_organisation_id: UUID,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.placement_organisation_id = None
        self.placement_since = None
        self._advance(_circumstance_thread(Circumstance.MOBILE), effective_date)

    def _require_circumstance_member(
        self,
        circumstance: Circumstance,
        effective_date: date,
        recorded_on: date,
        stages: tuple[Stage, ...] = _MEMBER_STAGES,
    ) -> str:
        self._require_open()
        self._require_stages(stages, what=f"a measure for a {circumstance.value} member")
        not_in_future(effective_date, recorded_on)
        since = self.circumstances.get(circumstance)
        if since is None:
            raise DomainError(
                "CIRCUMSTANCE_REQUIRED",
                f"needs the {circumstance.value} circumstance",
                circumstance=circumstance.value,
            )
        not_before(since, effective_date, f"{circumstance.value} circumstance")
        if self.stage in _MEMBER_STAGES:
            assert self.admitted_on is not None
            not_before(self.admitted_on, effective_date, "admission")
        else:
            assert self.activist_since is not None
            not_before(self.activist_since, effective_date, "activist decision")
        return _circumstance_thread(circumstance)

    # -- transfer of the organisational relationship (or of the file) ---------

    def start_transfer(
        self,
        *,
        to_organisation_id: UUID,
        letter_number: str,
        valid_days: int | None,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        self._require_open()
        not_in_future(effective_date, recorded_on)
        if self.transfer is not None:
            raise DomainError(
                "TRANSFER_IN_TRANSIT",
                "a transfer is already in transit",
                letter_number=self.transfer.letter_number,
            )
        if to_organisation_id == self.organisation_id:
            raise DomainError(
                "TRANSFER_TO_SAME_ORGANISATION",
                "the receiving organisation is the member's own",
                organisation_id=str(to_organisation_id),
            )
        valid_until = _letter_valid_until(effective_date, valid_days, policy)
        self._in_order(_TRANSFER_THREAD, effective_date, "latest transfer change")
        self.trigger_event(
            self.TransferStarted,
            from_organisation_id=self.organisation_id,
            to_organisation_id=to_organisation_id,
            letter_number=letter_number,
            valid_until=valid_until,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("TransferStarted")
    def _transfer_started(
        self,
        from_organisation_id: UUID,
        to_organisation_id: UUID,
        letter_number: str,
        valid_until: date,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        # While in transit the sender stays responsible: organisation_id does not move.
        self.transfer = Transfer(
            letter_number=letter_number,
            from_organisation_id=from_organisation_id,
            to_organisation_id=to_organisation_id,
            started_on=effective_date,
            valid_until=valid_until,
        )
        self._advance(_TRANSFER_THREAD, effective_date)

    def renew_transfer(
        self,
        *,
        letter_number: str,
        valid_days: int | None,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        new_letter_number: str | None = None,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        """An expired (or expiring) letter is renewed with a new validity from `effective_date`."""
        transfer = self._transfer_in_transit(letter_number, effective_date, recorded_on)
        valid_until = _letter_valid_until(effective_date, valid_days, policy)
        self.trigger_event(
            self.TransferRenewed,
            letter_number=transfer.letter_number,
            new_letter_number=new_letter_number or transfer.letter_number,
            valid_until=valid_until,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("TransferRenewed")
    def _transfer_renewed(
        self,
        letter_number: str,
        new_letter_number: str,
        valid_until: date,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        assert self.transfer is not None
        self.transfer = Transfer(
            letter_number=new_letter_number,
            from_organisation_id=self.transfer.from_organisation_id,
            to_organisation_id=self.transfer.to_organisation_id,
            started_on=self.transfer.started_on,
            valid_until=valid_until,
        )
        self._advance(_TRANSFER_THREAD, effective_date)

    def accept_transfer(
        self, *, letter_number: str, effective_date: date, recorded_on: date, by: Provenance
    ) -> None:
        transfer = self._transfer_in_transit(letter_number, effective_date, recorded_on)
        if effective_date > transfer.valid_until:
            raise DomainError(
                "TRANSFER_EXPIRED",
                "the letter expired before it was accepted",
                valid_until=transfer.valid_until.isoformat(),
                effective_date=effective_date.isoformat(),
            )
        self.trigger_event(
            self.TransferAccepted,
            letter_number=letter_number,
            from_organisation_id=transfer.from_organisation_id,
            to_organisation_id=transfer.to_organisation_id,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("TransferAccepted")
    def _transfer_accepted(
        self,
        letter_number: str,
        from_organisation_id: UUID,
        to_organisation_id: UUID,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.organisation_id = to_organisation_id
        self.transfer = None
        self.transfers_accepted_on = (*self.transfers_accepted_on, effective_date)
        self.awaiting_return_slip = AcceptedTransfer(
            letter_number=letter_number,
            from_organisation_id=from_organisation_id,
            to_organisation_id=to_organisation_id,
            accepted_on=effective_date,
        )
        self._advance(_TRANSFER_THREAD, effective_date)

    def refuse_transfer(
        self,
        *,
        letter_number: str,
        reason: str,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
    ) -> None:
        transfer = self._transfer_in_transit(letter_number, effective_date, recorded_on)
        self.trigger_event(
            self.TransferRefused,
            letter_number=letter_number,
            from_organisation_id=transfer.from_organisation_id,
            to_organisation_id=transfer.to_organisation_id,
            reason=reason,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("TransferRefused")
    def _transfer_refused(
        self,
        letter_number: str,
        from_organisation_id: UUID,
        to_organisation_id: UUID,
        reason: str,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.transfer = None
        self._advance(_TRANSFER_THREAD, effective_date)

    def record_return_slip(
        self,
        *,
        letter_number: str,
        effective_date: date,
        recorded_on: date,
        by: Provenance,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        """回执 of the last accepted transfer; one sent after the policy month is marked late."""
        self._require_open()
        not_in_future(effective_date, recorded_on)
        accepted = self.awaiting_return_slip
        if accepted is None or accepted.letter_number != letter_number:
            raise DomainError(
                "RETURN_SLIP_NOT_EXPECTED",
                "no accepted transfer awaits a return slip for that letter",
                letter_number=letter_number,
                awaiting=accepted.letter_number if accepted else None,
            )
        self._in_order(_TRANSFER_THREAD, effective_date, "latest transfer change")
        late = effective_date > accepted.accepted_on + timedelta(days=policy.return_slip_days)
        self.trigger_event(
            self.ReturnSlipRecorded,
            letter_number=letter_number,
            from_organisation_id=accepted.from_organisation_id,
            to_organisation_id=accepted.to_organisation_id,
            late=late,
            effective_date=effective_date,
            **by.fields(),
        )

    @event("ReturnSlipRecorded")
    def _return_slip_recorded(
        self,
        letter_number: str,
        from_organisation_id: UUID,
        to_organisation_id: UUID,
        late: bool,
        effective_date: date,
        request_id: str,
        source_system: str,
    ) -> None:
        self.awaiting_return_slip = None
        self._advance(_TRANSFER_THREAD, effective_date)

    # -- rule helpers -------------------------------------------------------

    def _advance(self, thread: str | None, effective_date: date) -> None:
        if thread is not None:
            current = self.thread_dates.get(thread, effective_date)
            self.thread_dates = {**self.thread_dates, thread: max(current, effective_date)}
        self.latest_effective_date = max(self.latest_effective_date, effective_date)

    def _in_order(self, thread: str, effective_date: date, what: str) -> None:
        not_before(self.applied_on, effective_date, "application that opened the episode")
        not_before(self.thread_dates.get(thread), effective_date, what)

    def _exit_in_order(self, effective_date: date) -> None:
        not_before(self.latest_effective_date, effective_date, "latest recorded change")

    def _require_open(self) -> None:
        if not self.episode_open:
            assert self.exited_on is not None and self.exit_kind is not None
            raise DomainError(
                "EPISODE_CLOSED",
                "the membership episode has ended; only a new application opens another",
                exit_kind=self.exit_kind.value,
                exited_on=self.exited_on.isoformat(),
                episode=self.episode,
            )

    def _require_stage(self, required: Stage, *, wanted: Stage | str) -> None:
        what = f"becoming {wanted.value}" if isinstance(wanted, Stage) else wanted
        self._require_stages((required,), what=what)

    def _require_stages(self, allowed: tuple[Stage, ...], *, what: str) -> None:
        if self.stage in allowed:
            return
        order = list(Stage)
        too_early = all(order.index(self.stage) < order.index(s) for s in allowed)
        raise DomainError(
            "STAGE_TOO_EARLY" if too_early else "WRONG_STAGE",
            f"{what} needs stage {' or '.join(s.value for s in allowed)}",
            current_stage=self.stage.value,
            required_stage=allowed[0].value if len(allowed) == 1 else [s.value for s in allowed],
        )

    def _require_target_step(
        self, effective_date: date, recorded_on: date, thread: str, what: str
    ) -> None:
        self._require_open()
        self._require_stages((Stage.DEVELOPMENT_TARGET,), what=f"recording the {what}")
        not_in_future(effective_date, recorded_on)
        not_before(self.target_since, effective_date, "development target decision")
        self._in_order(thread, effective_date, f"latest {what}")

    def _require_probation_end(
        self, effective_date: date, recorded_on: date, approved_on: date
    ) -> None:
        self._require_open()
        self._require_stage(Stage.PROBATIONARY, wanted="an end-of-probation decision")
        not_in_future(effective_date, recorded_on)
        not_in_future(approved_on, recorded_on)
        self._in_order(_STAGE_THREAD, effective_date, "latest stage change")
        assert self.probation_ends_on is not None
        if effective_date < self.probation_ends_on:
            raise DomainError(
                "PROBATION_NOT_ENDED",
                "probation has not ended on the decision date",
                probation_ends_on=self.probation_ends_on.isoformat(),
                effective_date=effective_date.isoformat(),
            )

    def _require_full(
        self, effective_date: date, recorded_on: date, *, allowed: tuple[Standing, ...]
    ) -> None:
        self._require_open()
        self._require_stage(Stage.FULL, wanted="a measure on standing")
        if self.standing not in allowed:
            raise DomainError(
                "WRONG_STANDING",
                f"needs standing {' or '.join(s.value for s in allowed)}",
                standing=self.standing.value,
            )
        not_in_future(effective_date, recorded_on)
        self._in_order(_STAGE_THREAD, effective_date, "latest stage or standing change")

    @staticmethod
    def _approval_after(decided_on: date, approved_on: date) -> None:
        if approved_on < decided_on:
            raise DomainError(
                "APPROVAL_BEFORE_DECISION",
                "the approval precedes the decision",
                decided_on=decided_on.isoformat(),
                approved_on=approved_on.isoformat(),
            )

    def _set_standing(self, standing: Standing, effective_date: date, until: date | None) -> None:
        self.standing = standing
        self.standing_since = effective_date
        self.standing_until = until
        self._advance(_STAGE_THREAD, effective_date)

    def _transfer_in_transit(
        self, letter_number: str, effective_date: date, recorded_on: date
    ) -> Transfer:
        self._require_open()
        not_in_future(effective_date, recorded_on)
        if self.transfer is None:
            raise DomainError("NO_TRANSFER_IN_TRANSIT", "no transfer is in transit")
        if self.transfer.letter_number != letter_number:
            raise DomainError(
                "LETTER_MISMATCH",
                "the letter number is not the one in transit",
                letter_number=letter_number,
                in_transit=self.transfer.letter_number,
            )
        self._in_order(_TRANSFER_THREAD, effective_date, "latest transfer change")
        return self.transfer


def _letter_valid_until(effective_date: date, valid_days: int | None, policy: Policy) -> date:
    days = policy.transfer_letter_default_days if valid_days is None else valid_days
    if not 1 <= days <= policy.transfer_letter_max_days:
        raise DomainError(
            "TRANSFER_VALIDITY_TOO_LONG",
            f"validity must be 1..{policy.transfer_letter_max_days} days",
            valid_days=days,
        )
    return effective_date + timedelta(days=days)


def _limited_period(code: str, what: str, start: date, until: date, max_months: int) -> None:
    """A time-limited measure ends after it starts and within its maximum."""
    latest = add_months(start, max_months)
    if not start < until <= latest:
        raise DomainError(
            code,
            f"{what} ends 1 day to {max_months} months later",
            effective_date=start.isoformat(),
            until=until.isoformat(),
            latest=latest.isoformat(),
        )

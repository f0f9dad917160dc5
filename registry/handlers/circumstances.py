"""Requests on a member's circumstances, community reporting and placement.

None of these moves the formal organisation. Community reporting and placement
involve a second organisation (the community, the host), which may record the change
as well as the member's own: the acting organisation may stand over either.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from registry import requests as rq
from registry.handlers.base import Handler, Op


def set_circumstance(op: Op, change: rq.SetCircumstance) -> list[Aggregate]:
    member = op.own_member()
    member.set_circumstance(circumstance=change.circumstance, **op.when)
    return [member]


def clear_circumstance(op: Op, change: rq.ClearCircumstance) -> list[Aggregate]:
    member = op.own_member()
    member.clear_circumstance(circumstance=change.circumstance, **op.when)
    return [member]


def register_with_community(op: Op, change: rq.RegisterWithCommunity) -> list[Aggregate]:
    member = op.member()
    community = op.active_organisation(change.community_code)
    op.authorise(member.organisation_id, community.id)
    member.register_with_community(community_id=community.id, **op.when)
    return [member]


def end_community_registration(op: Op, change: rq.EndCommunityRegistration) -> list[Aggregate]:
    member = op.member()
    op.authorise(member.organisation_id, member.community_id)
    member.end_community_registration(**op.when)
    return [member]


def record_community_feedback(op: Op, change: rq.RecordCommunityFeedback) -> list[Aggregate]:
    member = op.member()
    community = op.organisation(change.community_code)
    # Feedback goes to the member's unit organisation unless the community names another.
    to = (
        op.organisation(change.to_organisation_code).id
        if change.to_organisation_code
        else member.organisation_id
    )
    op.authorise(community.id, member.organisation_id)
    member.record_community_feedback(
        community_id=community.id, to_organisation_id=to, summary=change.summary, **op.when
    )
    return [member]


def record_community_opinion(op: Op, change: rq.RecordCommunityOpinion) -> list[Aggregate]:
    member = op.member()
    community = op.organisation(change.community_code)
    op.authorise(community.id, member.organisation_id)
    member.record_community_opinion(
        community_id=community.id,
        summary=change.summary,
        favourable=change.favourable,
        **op.when,
    )
    return [member]


def place(op: Op, change: rq.PlaceMobileMember) -> list[Aggregate]:
    member = op.member()
    host = op.active_organisation(change.organisation_code)
    op.authorise(host.id, member.organisation_id)
    member.place(
        organisation_id=host.id,
        identity_verified=change.identity_verified,
        card_number=change.card_number,
        **op.when,
    )
    return [member]


def end_placement(op: Op, change: rq.EndPlacement) -> list[Aggregate]:
    member = op.member()
    op.authorise(member.placement_organisation_id, member.organisation_id)
    member.end_placement(**op.when)
    return [member]


HANDLERS: dict[type, Handler] = {
    rq.SetCircumstance: set_circumstance,
    rq.ClearCircumstance: clear_circumstance,
    rq.RegisterWithCommunity: register_with_community,
    rq.EndCommunityRegistration: end_community_registration,
    rq.RecordCommunityFeedback: record_community_feedback,
    rq.RecordCommunityOpinion: record_community_opinion,
    rq.PlaceMobileMember: place,
    rq.EndPlacement: end_placement,
}

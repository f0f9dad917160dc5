"""The closed sets of the domain, in its own words (see DOMAIN.md)."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    APPLICANT = "APPLICANT"  # 入党申请人
    ACTIVIST = "ACTIVIST"  # 入党积极分子
    DEVELOPMENT_TARGET = "DEVELOPMENT_TARGET"  # 发展对象
    PROBATIONARY = "PROBATIONARY"  # 预备党员
    FULL = "FULL"  # 正式党员


class Sex(StrEnum):
    MALE = "MALE"
    FEMALE = "FEMALE"


class OrganisationLevel(StrEnum):
    CITY = "CITY"  # 市委
    DISTRICT = "DISTRICT"  # 区委
    STREET = "STREET"  # 街道党工委
    COMMUNITY = "COMMUNITY"  # 社区党组织
    UNIT = "UNIT"  # 单位党组织 (enterprise, social organisation, 两新组织, building)


class OrganisationKind(StrEnum):
    COMMITTEE = "COMMITTEE"  # 党委 / 党工委
    GENERAL_BRANCH = "GENERAL_BRANCH"  # 党总支
    BRANCH = "BRANCH"  # 党支部
    JOINT_BRANCH = "JOINT_BRANCH"  # 联合党支部
    TEMPORARY_BRANCH = "TEMPORARY_BRANCH"  # 临时党支部


# Which level may sit directly under which: a community or unit hangs under a
# street, a street under a district, a district under the city.
PARENT_LEVEL: dict[OrganisationLevel, OrganisationLevel | None] = {
    OrganisationLevel.CITY: None,
    OrganisationLevel.DISTRICT: OrganisationLevel.CITY,
    OrganisationLevel.STREET: OrganisationLevel.DISTRICT,
    OrganisationLevel.COMMUNITY: OrganisationLevel.STREET,
    OrganisationLevel.UNIT: OrganisationLevel.STREET,
}


class Standing(StrEnum):
    """Standing of a full member: normal, or under one of the measures of the rules."""

    NORMAL = "NORMAL"
    CORRECTION = "CORRECTION"  # 限期改正
    PARTY_PROBATION = "PARTY_PROBATION"  # 留党察看 (sanction; no voting rights)
    SUSPENDED = "SUSPENDED"  # 停止党籍


class ExitKind(StrEnum):
    """How a membership episode ended; only a new application opens another."""

    WITHDRAWN = "WITHDRAWN"  # 退党 (or an application withdrawn before admission)
    REMOVED = "REMOVED"  # 除名
    EXPELLED = "EXPELLED"  # 开除党籍
    DIED = "DIED"
    CANCELLED = "CANCELLED"  # 取消预备党员资格


class SuspensionReason(StrEnum):
    LOST_CONTACT = "LOST_CONTACT"  # 失去联系 6 months or more
    SETTLED_ABROAD = "SETTLED_ABROAD"  # 出国(境)定居


class Circumstance(StrEnum):
    """The seed's groups: attributes with effective dates, not stages."""

    RETIRED = "RETIRED"  # 退休
    LAID_OFF = "LAID_OFF"  # 下岗失业
    MOBILE = "MOBILE"  # 流动
    IN_SERVICE = "IN_SERVICE"  # 在职

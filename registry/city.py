"""A small, seeded city for the demo and the tests: organisations and people with
valid citizen ID numbers."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from domain.identity import check_character

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
ETHNICITIES = ("汉族", "汉族", "汉族", "回族", "满族", "蒙古族")
EDUCATION = ("高中", "大专", "本科", "硕士研究生")
OCCUPATIONS = ("企业职工", "教师", "社区工作者", "个体经营者", "退休人员", "医生")


@dataclass(frozen=True)
class OrganisationSpec:
    code: str
    name: str
    kind: str
    level: str
    parent_code: str | None
    registration_number: str | None = None
    supervising_body: str | None = None


@dataclass(frozen=True)
class Person:
    citizen_id: str
    name: str
    ethnicity: str
    education: str
    occupation: str
    phone: str
    address: str


def citizen_id(area: str, birth: date, sequence: int) -> str:
    first17 = f"{area}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def city_tree() -> list[OrganisationSpec]:
    """One city → 2 districts → 2 streets each → 2 communities and a unit per street."""
    specs = [OrganisationSpec("SH", "市委", "COMMITTEE", "CITY", None)]
    for d, district in enumerate(("XH", "PD"), start=1):
        dcode = f"SH-{district}"
        specs.append(OrganisationSpec(dcode, f"{district}区委", "COMMITTEE", "DISTRICT", "SH"))
        for s in (1, 2):
            scode = f"{dcode}-S{s}"
            specs.append(
                OrganisationSpec(scode, f"{district}第{s}街道党工委", "COMMITTEE", "STREET", dcode)
            )
            for c in (1, 2):
                specs.append(
                    OrganisationSpec(
                        f"{scode}-C{c}",
                        f"{district}{s}街道第{c}社区党支部",
                        "BRANCH",
                        "COMMUNITY",
                        scode,
                    )
                )
            specs.append(
                OrganisationSpec(
                    f"{scode}-U1",
                    f"{district}{s}街道科技公司党支部",
                    "BRANCH",
                    "UNIT",
                    scode,
                    registration_number=f"91310{d}{s}00MA1",
                    supervising_body="区市场监督管理局",
                )
            )
    return specs


def people(count: int, seed: int = 7) -> list[Person]:
    rng = random.Random(seed)
    result = []
    for i in range(count):
        birth = date(1960, 1, 1) + timedelta(days=rng.randrange(0, 365 * 40))
        sequence = (i * 2 + rng.randrange(0, 2)) % 1000
        result.append(
            Person(
                citizen_id=citizen_id("310101", birth, sequence),
                name=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                ethnicity=rng.choice(ETHNICITIES),
                education=rng.choice(EDUCATION),
                occupation=rng.choice(OCCUPATIONS),
                phone=f"139{rng.randrange(10**7, 10**8)}",
                address=f"上海市某路{rng.randrange(1, 999)}号",
            )
        )
    return result

"""The organisations under one organisation, now or as of a date, as SQL to prefix a query.

Re-parenting changes one parent_id; the recursive walk carries the whole subtree along,
so no member row is touched when districts or streets are re-drawn.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from projections.database import Database

SUBTREE = """WITH RECURSIVE subtree(id) AS (
    SELECT id FROM rm_organisations WHERE id = ?
    UNION ALL
    SELECT o.id FROM rm_organisations o JOIN subtree s ON o.parent_id = s.id)"""

# The parent each organisation had on the day, from its history by effective date.
SUBTREE_AS_OF = """WITH RECURSIVE parents(id, parent_id) AS (
    SELECT organisation_id, value FROM (
        SELECT organisation_id, value, ROW_NUMBER() OVER (
            PARTITION BY organisation_id ORDER BY effective_date DESC, version DESC) AS rank
        FROM rm_organisation_history WHERE attribute = 'parent' AND effective_date <= ?
    ) p WHERE rank = 1),
subtree(id) AS (
    SELECT id FROM rm_organisations WHERE id = ?
    UNION ALL
    SELECT p.id FROM parents p JOIN subtree s ON p.parent_id = s.id)"""


def subtree_sql(root_id: str, day: date | None) -> tuple[str, tuple[Any, ...]]:
    if day is None:
        return SUBTREE, (root_id,)
    return SUBTREE_AS_OF, (day.isoformat(), root_id)


def subtree_ids(db: Database, root_id: str, day: date | None = None) -> set[str]:
    sql, params = subtree_sql(root_id, day)
    return {r[0] for r in db.query(sql + " SELECT id FROM subtree", params)}

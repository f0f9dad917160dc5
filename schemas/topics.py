"""Topic names and record headers: the Kafka side of the public contract."""

from __future__ import annotations

CHANGE_REQUESTS = "registry.change-requests"
CHANGE_OUTCOMES = "registry.change-outcomes"
MEMBER_EVENTS = "registry.member-events"
ORGANISATION_EVENTS = "registry.organisation-events"
DEAD_LETTERS = "registry.dead-letters"

ALL_TOPICS = (CHANGE_REQUESTS, CHANGE_OUTCOMES, MEMBER_EVENTS, ORGANISATION_EVENTS, DEAD_LETTERS)

# CloudEvents binary mode (Kafka protocol binding), values UTF-8.
CE_SPECVERSION = "ce_specversion"
CE_ID = "ce_id"
CE_SOURCE = "ce_source"
CE_TYPE = "ce_type"
CE_TIME = "ce_time"
CE_SUBJECT = "ce_subject"
CONTENT_TYPE = "content-type"
# Registry extensions.
POSITION = "registry_position"
SCHEMA_FINGERPRINT = "registry_schema_fingerprint"
EPOCH = "registry_epoch"

CE_SOURCE_VALUE = "/registry/store"
CONTENT_TYPE_VALUE = "application/avro"

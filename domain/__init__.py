"""The registry's domain: members, organisations and the rules between them.

Plain Python on `eventsourcing` aggregates; nothing here knows of Kafka, Avro or SQL.
"""

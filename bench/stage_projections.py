"""Stage 3, projections: event topics → PostgreSQL read models from the beginning, against
kafka-python consuming and fastavro decoding the same records with no database."""

from __future__ import annotations

from bench.env import Env
from bench.rawkafka import Timed, consume
from bench.timing import Progress, run_until_done
from consumers.projector import PROJECTED_TOPICS, Projector
from projections.database import Database
from projections.decoding import event_decoder
from schemas.catalog import load_catalog


def measure_projections(env: Env, records: int, timeout_s: float) -> Progress:
    """Times the projector from its first record to the last of `records`."""
    db = Database(env.settings)
    try:
        projector = Projector(env.settings, db, load_catalog())
        progress = Progress(total=records)
        projector.process_polled = progress.wrap_polled(  # type: ignore[method-assign]
            projector.process_polled)
        run_until_done(projector.run, progress, timeout_s)
        return progress
    finally:
        db.close()


def measure_raw_consume(env: Env, records: int, *, compiled: bool = False) -> Timed:
    """The same records read and decoded with nothing else: kafka-python and fastavro,
    as the issue sets the baseline, with the projector's reader schemas (uuids left as
    text, cheaper than `Catalog.decode`). With `compiled`, decoded instead as the
    projector decodes them (schemas/compiled_reader.py, faster than fastavro): printed
    beside the figures, to tell what the decoder changed in the ratio."""
    decoder = event_decoder(load_catalog())
    decode = decoder.decode if compiled else decoder.decode_with_fastavro
    return consume(env.settings, PROJECTED_TOPICS, expected=records,
                   on_record=lambda r: decode(r.value))

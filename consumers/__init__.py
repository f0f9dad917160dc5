"""Long-running Kafka loops: ingest of change requests, the relay, the projection runner."""

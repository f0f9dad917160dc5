"""Configuration: environment variables (REGISTRY_*) or a TOML file, checked by pydantic.

With nothing set, the backbone runs embedded: SQLite files in the data folder and a
Tansu broker started by the program itself.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.policy import Policy

ENV_PREFIX = "REGISTRY_"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(Path(".data"), description="Folder for SQLite files and local keys.")
    database_url: str | None = Field(
        None,
        description="postgresql://user:password@host:port/dbname?schema=NAME; unset: SQLite.",
    )
    kafka_bootstrap: str | None = Field(
        None, description="host:port[,host:port]; unset: start a local Tansu broker."
    )
    broker_port: int = Field(0, description="Port for the local broker; 0 picks a free one.")
    partitions: int = Field(4, ge=1, description="Partitions of each topic the backbone creates.")
    member_id_key: str | None = Field(
        None, description="Secret (hex) that maps citizen ID numbers to opaque member ids."
    )
    cipher_key: str | None = Field(
        None, description="AES key (base64) that encrypts events at rest in the store."
    )
    ingest_batch_size: int = Field(
        500,
        ge=1,
        description="Change requests per partition in one poll; a poll's requests, all"
        " partitions together, are saved in one transaction.",
    )
    ingest_save_behind: bool = Field(
        True,
        description="On PostgreSQL, in a backlog (a poll cut by its limit), save a batch"
        " in a writer thread while the next one is handled (one batch in flight at most);"
        " off, or caught up: each batch is saved before the next poll.",
    )
    relay_batch_size: int = Field(2000, ge=1, description="Events per relay round.")
    fetch_wait_ms: int = Field(
        100,
        ge=1,
        le=10000,
        description="Longest a consumer's fetch waits at the broker when it has no new "
        "records. Tansu answers such a fetch only when this time is up, even if records "
        "arrive meanwhile, so on Tansu it adds up to this much to every hop; but shorter "
        "waits made smaller batches, each with its own commit, and the end-to-end latency "
        "worse (20 ms: outcome p99 309 ms at 300/s, 100 ms: 211 ms). Apache Kafka answers "
        "as soon as a record arrives, and a longer wait only saves empty fetches.",
    )
    group_session_timeout_ms: int = Field(
        6000, ge=6000, description="Consumer-group session timeout (Kafka's minimum is 6000)."
    )
    anchor_block_size: int = Field(
        1000, ge=0, description="Store positions per sealed block (registry.anchors); 0: off."
    )
    timezone: str = Field(
        "Asia/Shanghai",
        description="Where 'today' is decided: an effective date after today is refused.",
    )
    policy: dict[str, int | bool] = Field(
        default_factory=dict,
        description="Overrides of the rules DOMAIN.md marks *policy* (see domain/policy.py), "
        "e.g. [policy] transfer_letter_default_days = 30.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, value: dict[str, int | bool]) -> dict[str, int | bool]:
        known = {f.name for f in fields(Policy)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown policy setting(s) {unknown}; known: {sorted(known)}")
        return value

    def domain_policy(self) -> Policy:
        return Policy(**self.policy)

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value is not None and urlparse(value).scheme not in ("postgresql", "postgres"):
            raise ValueError("database_url must be a postgresql:// URL (leave unset for SQLite)")
        return value

    @property
    def embedded_broker(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def uses_postgres(self) -> bool:
        return self.database_url is not None

    def postgres(self) -> dict[str, str]:
        """The parts of database_url, with the schema (search path) from ?schema=."""
        assert self.database_url is not None
        url = urlparse(self.database_url)
        schema = parse_qs(url.query).get("schema", [""])[0]
        return {
            "host": url.hostname or "127.0.0.1",
            "port": str(url.port or 5432),
            "dbname": url.path.lstrip("/") or "postgres",
            "user": url.username or "postgres",
            "password": url.password or "",
            "schema": schema,
        }

    def postgres_connect_args(self) -> dict[str, str | None]:
        """`postgres()` as psycopg.connect's keyword arguments (no schema: the caller
        sets its search path)."""
        pg = self.postgres()
        return {
            "host": pg["host"],
            "port": pg["port"],
            "dbname": pg["dbname"],
            "user": pg["user"],
            "password": pg["password"] or None,
        }

    def keys(self) -> tuple[bytes, str]:
        """(member id key, cipher key): configured, or made once and kept in the data folder."""
        if self.member_id_key and self.cipher_key:
            return bytes.fromhex(self.member_id_key), self.cipher_key
        path = self.data_dir / "keys.json"
        if path.exists():
            stored = json.loads(path.read_text())
        else:
            stored = {
                "member_id_key": secrets.token_hex(32),
                "cipher_key": base64.b64encode(secrets.token_bytes(32)).decode(),
            }
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(stored))
            path.chmod(0o600)
        return (
            bytes.fromhex(self.member_id_key or stored["member_id_key"]),
            self.cipher_key or stored["cipher_key"],
        )


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """File first, then REGISTRY_* environment variables, then explicit overrides."""
    values: dict[str, Any] = {}
    config_file = config_file or (
        Path(os.environ[f"{ENV_PREFIX}CONFIG"]) if f"{ENV_PREFIX}CONFIG" in os.environ else None
    )
    if config_file is not None:
        values.update(tomllib.loads(config_file.read_text(encoding="utf-8")))
    for name in Settings.model_fields:
        env = os.environ.get(ENV_PREFIX + name.upper())
        if env is not None and env != "":
            values[name] = json.loads(env) if name == "policy" else env
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)

"""Response models of the ApexStore routes the console reads (what pages see instead of raw JSON)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Record(BaseModel):
    key: str
    value: str


class KeyTtl(BaseModel):
    """`GET /keys/{key}/ttl`: seconds left (None: the key never expires)."""
    key: str
    ttl_secs: int | None = None
    expired: bool = False


class KeyPage(BaseModel):
    keys: list[str]
    cursor: str | None = None


class RecordPage(BaseModel):
    records: list[Record]
    cursor: str | None = None


class Stats(BaseModel):
    sst_files: int = 0
    sst_kb: int = 0
    mem_records: int = 0
    mem_kb: int = 0
    wal_kb: int = 0
    total_records: int = 0
    max_levels_reached: int = 0


class CompactionResult(BaseModel):
    cf: str
    files_merged: int
    bytes_read: int
    bytes_written: int


class ProbeResult(BaseModel):
    name: str
    healthy: bool
    http_status: int | None
    message: str
    details: dict[str, Any] = {}


class HealthCheck(BaseModel):
    healthy: bool
    uptime_secs: int | None = None
    details: dict[str, Any] = {}
    reason: str | None = None


class LevelRow(BaseModel):
    level: int
    files: int
    bytes: int


class ColumnFamily(BaseModel):
    name: str
    keys: int = 0
    sst_files: int = 0
    size_kb: int = 0
    mem_records: int = 0
    levels: list[LevelRow] = []


class Snapshot(BaseModel):
    id: str
    name: str
    size_kb: int = 0
    size_bytes: int = 0
    file_count: int = 0
    created_at: int
    status: str = 'completed'


class TrackedClient(BaseModel):
    ip: str
    request_count: int = 0
    endpoint_counts: dict[str, int] = {}


class RateLimits(BaseModel):
    global_limit: int = 0
    endpoint_limits: dict[str, int] = {}
    tracked_ips: list[TrackedClient] = []


class Note(BaseModel):
    path: str
    content: str
    frontmatter: dict[str, Any] = {}
    links: list[str] = []
    backlinks: list[str] = []
    tags: list[str] = []


class GraphNode(BaseModel):
    id: str
    label: str = ''
    type: str = 'note'


class GraphEdge(BaseModel):
    source: str
    target: str


class NoteGraph(BaseModel):
    root: str
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []


class TagCount(BaseModel):
    tag: str
    count: int


class TokenInfo(BaseModel):
    id: str
    name: str
    created_at: int
    expires_at: int | None = None
    permissions: list[str]


class NewToken(TokenInfo):
    token: str


class FeatureFlag(BaseModel):
    name: str
    enabled: bool
    description: str = ''

"""Exporting events for SIEMs and data lakes: ECS (Elasticsearch/OpenSearch bulk NDJSON), OCSF
JSON lines, plain JSONL/CSV, and Parquet. Plain formats are written by DuckDB itself; ECS and
OCSF are mapped in Python, streaming in batches."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

from auditctl import __version__
from auditctl.store import Store
from auditctl.store.filters import EventFilter

FORMATS = ("ecs", "ocsf", "jsonl", "csv", "parquet")

# Our category -> ECS event.category (allowed values of ECS 8.x)
ECS_CATEGORY = {
    "authentication": ["authentication"], "user_management": ["iam"], "permission_change": ["iam"],
    "policy_change": ["configuration"], "privileged_action": ["process"], "data_access": ["file"],
    "system": ["host"], "other": [],
}
# Our action -> ECS event.type (allowed values of ECS 8.x)
ECS_TYPE = {
    "login": ["start"], "logout": ["end"], "authenticate": ["info"], "session_start": ["start"],
    "session_end": ["end"], "user_created": ["user", "creation"], "user_deleted": ["user", "deletion"],
    "user_modified": ["user", "change"], "user_locked": ["user", "change"], "user_unlocked": ["user", "change"],
    "password_changed": ["user", "change"], "group_created": ["group", "creation"],
    "group_deleted": ["group", "deletion"], "group_modified": ["group", "change"],
    "group_member_added": ["group", "change"], "group_member_removed": ["group", "change"],
    "role_granted": ["admin", "change"], "role_revoked": ["admin", "change"], "policy_changed": ["change"],
    "audit_config_changed": ["change"], "log_cleared": ["deletion"], "privilege_escalation": ["start", "admin"],
    "command_run": ["start"], "access": ["access"], "service_start": ["start"], "service_stop": ["end"],
    "syscall": ["info"], "log": ["info"], "unparsed": ["info"],
    "log_read": ["access"], "log_exported": ["access"], "log_verified": ["info"], "retention_applied": ["deletion"],
    "log_collected": ["info"], "service_installed": ["installation"], "service_modified": ["change"], "process_start": ["start"],
    "process_end": ["end"], "process_access": ["access"], "module_load": ["start"], "file_write": ["change"],
    "file_delete": ["deletion"], "registry_change": ["change"], "network_connect": ["connection", "start"],
    "dns_query": ["protocol"], "pipe_created": ["creation"], "wmi_subscription": ["creation"],
    "script_run": ["start"], "task_created": ["creation"], "task_deleted": ["deletion"], "task_modified": ["change"],
    "task_run": ["start"], "malware_detected": ["info"],
}
ECS_VERSION = "8.11.0"

# Our action -> (OCSF class_uid, activity_id). OCSF 1.1: Account Change 3001, Authentication 3002,
# User Access Management 3005, Group Management 3006, Process Activity 1007, API Activity 6003,
# File System Activity 1001, Module Activity 1005, Scheduled Job Activity 1006, Network Activity 4001,
# DNS Activity 4003, Base Event 0. category_uid = class_uid // 1000; type_uid = class_uid * 100 + activity_id.
OCSF = {
    "login": (3002, 1), "logout": (3002, 2), "authenticate": (3002, 99), "session_start": (3002, 1),
    "session_end": (3002, 2),
    "user_created": (3001, 1), "user_unlocked": (3001, 2), "password_changed": (3001, 3),
    "user_locked": (3001, 5), "user_deleted": (3001, 6), "user_modified": (3001, 99),
    "role_granted": (3005, 1), "role_revoked": (3005, 2),
    "group_member_added": (3006, 3), "group_member_removed": (3006, 4), "group_deleted": (3006, 5),
    "group_created": (3006, 6), "group_modified": (3006, 99),
    "command_run": (1007, 1), "privilege_escalation": (1007, 1),
    "access": (6003, 2), "log_read": (6003, 2), "log_exported": (6003, 2), "log_verified": (6003, 2),
    "retention_applied": (6003, 4),
    "process_start": (1007, 1), "process_end": (1007, 2), "process_access": (1007, 3), "module_load": (1005, 1),
    "file_write": (1001, 1), "file_delete": (1001, 4), "network_connect": (4001, 1), "dns_query": (4003, 1),
    "task_created": (1006, 1), "task_modified": (1006, 2), "task_deleted": (1006, 3),
    "task_run": (1006, 6),
}
OCSF_CLASS_NAMES = {0: "Base Event", 1001: "File System Activity", 1005: "Module Activity",
                    1006: "Scheduled Job Activity", 1007: "Process Activity", 4001: "Network Activity",
                    4003: "DNS Activity", 3001: "Account Change", 3002: "Authentication",
                    3005: "User Access Management", 3006: "Group Management", 6003: "API Activity"}
OCSF_STATUS = {"success": (1, "Success"), "failure": (2, "Failure"), "unknown": (0, "Unknown")}


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = _drop_none(v)
            if not v:
                continue
        if v is None or v == []:
            continue
        out[k] = v
    return out


def _attrs(row: dict[str, Any]) -> Any:
    return _json(row.get("attrs"))


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str) else value


def to_ecs(row: dict[str, Any]) -> dict[str, Any]:
    ts: datetime | None = row["ts"]
    return _drop_none({
        "@timestamp": ts.isoformat() if ts else None,
        "ecs": {"version": ECS_VERSION},
        "message": row["message"],
        "event": {"kind": "event", "category": ECS_CATEGORY.get(row["category"], []),
                  "type": ECS_TYPE.get(row["action"], ["info"]), "action": row["original_action"] or row["action"],
                  "outcome": row["outcome"], "module": row["parser"], "dataset": f"auditctl.{row['parser']}",
                  "original": row["raw"], "sequence": row["seq"],
                  "ingested": row["ingested_at"].isoformat() if row["ingested_at"] else None},
        "user": {"name": row["actor"], "target": {"name": row["target"]}},
        "group": {"name": row["role"]},
        "source": {"ip": row["src_ip"]},
        "user_agent": {"original": row["user_agent"]},
        "host": {"name": row["host"]},
        "process": {"name": row["app"], "pid": row["pid"]},
        "log": {"file": {"path": row["source"]}},
        "auditctl": {"action": row["action"], "category": row["category"], "line": row["line"],
                     "origin": row["origin"], "resource": row["resource"], "session": row["session"],
                     "attrs": _attrs(row), "ts_source": row.get("ts_source"), "raw_b64": row.get("raw_b64"),
                     "received": _json(row.get("received"))},
    })


def to_ocsf(row: dict[str, Any]) -> dict[str, Any]:
    class_uid, activity_id = OCSF.get(row["action"], (0, 99))
    status_id, status = OCSF_STATUS.get(row["outcome"], (0, "Unknown"))
    ts: datetime | None = row["ts"]
    actor = {"user": {"name": row["actor"]}} if row["actor"] else None
    target_user = {"name": row["target"] or (row["actor"] if class_uid == 3002 else None)}
    doc: dict[str, Any] = {
        "class_uid": class_uid, "class_name": OCSF_CLASS_NAMES[class_uid], "category_uid": class_uid // 1000,
        "activity_id": activity_id, "type_uid": class_uid * 100 + activity_id,
        "time": int(ts.timestamp() * 1000) if ts else None, "severity_id": 1, "status_id": status_id,
        "status": status, "message": row["message"], "raw_data": row["raw"],
        "metadata": {"version": "1.1.0", "product": {"name": "auditctl", "vendor_name": "auditctl",
                                                     "version": __version__},
                     "log_name": row["source"], "uid": str(row["seq"]), "original_time": ts.isoformat() if ts else None},
        "actor": actor, "user": target_user if class_uid in (3001, 3002, 3005, 3006) else None,
        "group": {"name": row["role"]} if class_uid == 3006 else None,
        "privileges": [row["role"]] if class_uid == 3005 and row["role"] else None,
        "src_endpoint": {"ip": row["src_ip"]}, "device": {"hostname": row["host"]},
        "http_request": {"user_agent": row["user_agent"]},
        "unmapped": {"auditctl": {"category": row["category"], "action": row["action"],
                                  "original_action": row["original_action"], "resource": row["resource"],
                                  "attrs": _attrs(row), "ts_source": row.get("ts_source"),
                                  "received": _json(row.get("received"))},
                     "raw_b64": row.get("raw_b64")},
    }
    return _drop_none(doc)


def write_mapped(rows: Iterator[list[dict[str, Any]]], fmt: str, out: IO[bytes]) -> int:
    """ECS as Elasticsearch/OpenSearch bulk NDJSON ({"create": {}} before each document, so it
    can go straight to a data stream's _bulk endpoint); OCSF as one JSON object a line."""
    count = 0
    action = orjson.dumps({"create": {}}) + b"\n"
    for batch in rows:
        buf = bytearray()
        for row in batch:
            if fmt == "ecs":
                buf += action + orjson.dumps(to_ecs(row)) + b"\n"
            else:
                buf += orjson.dumps(to_ocsf(row)) + b"\n"
        out.write(bytes(buf))
        count += len(batch)
    return count


def export(store: Store, flt: EventFilter, fmt: str, output: Path | None, out: IO[bytes]) -> int:
    """Write the events `flt` selects; returns how many. Plain formats go through DuckDB's COPY."""
    if fmt in ("ecs", "ocsf"):
        return write_mapped(store.iter_events(flt), fmt, out)
    if fmt == "parquet" and output is None:
        raise ValueError("parquet needs --output FILE")
    return store.copy_selected(flt, fmt, output, out)

"""Kubernetes API server audit events (`audit.k8s.io/v1` Event), one JSON object a line.

Also read: a `{"kind": "EventList", "items": [...]}` object (on one line, or a pretty-printed
file: origin `items[i]`), and older `audit.k8s.io/v1beta1` events.

Every line becomes an event, whatever its stage. RequestReceived events carry no response, so
their outcome is `unknown`; a status code decides the others (< 400 success, including 101
"switching protocols" of a started exec; >= 400 failure); a Panic stage is a failure; with no
code, an authorization decision of `forbid` is a failure. The stage is in attrs.stage, so
`attrs.stage = 'ResponseComplete'` counts each request once.

Mapping (first match wins):
  status 401                                   -> authentication/authenticate (failure)
  no objectRef (non-resource URL: /healthz)    -> system/log, resource = the path
  pods/exec, pods/attach (any verb)            -> privileged_action/command_run, attrs.command
  (cluster)rolebindings create/update/patch    -> permission_change/role_granted,
        role = roleRef.name, target = subjects (comma-joined; a ServiceAccount subject is
        written as the user name it logs in with, `system:serviceaccount:<ns>:<name>`)
  (cluster)rolebindings delete/deletecollection -> permission_change/role_revoked
  (cluster)roles create/update/patch/delete    -> policy_change/policy_changed
  serviceaccounts create/delete/update/patch   -> user_created/user_deleted/user_modified
  get/list/watch of anything                   -> data_access/access
  secret writes                                -> data_access/access
  other writes                                 -> system/log
actor = user.username (impersonatedUser in attrs), src_ip = sourceIPs[0], session = auditID,
ts = stageTimestamp (else requestReceivedTimestamp, else timestamp), app = kube-apiserver,
original_action = verb, resource = `<resource>/<namespace>/<name>[/<subresource>]`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from auditctl.ingest.jsonrecords import json_lines, read_document, split_document, split_lines
from auditctl.ingest.k8s import audit_event, is_audit_event
from auditctl.plugins import Parser
from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head, Source

_NOT_AUDIT = "k8s_audit: not a Kubernetes audit event"
_STAGE_RE = re.compile(
    r'"stage"\s*:\s*"(?:RequestReceived|ResponseStarted|ResponseComplete|Panic)"')
_AUDIT_ID_RE = re.compile(r'"auditID"\s*:\s*"')
_API_RE = re.compile(r'"apiVersion"\s*:\s*"audit\.k8s\.io/v1')
_KIND_RE = re.compile(r'"kind"\s*:\s*"(?:Event|EventList)"')
_PRETTY_START = re.compile(rb"^\s*[\{\[]\s*\r?\n")


def _object_events(obj: Any, raw: str, line: int | None, origin: str | None) -> Iterator[Event]:
    """Events of one decoded JSON value: an Event, an EventList, or something unknown."""
    if isinstance(obj, dict) and obj.get("kind") == "EventList" \
            and isinstance(obj.get("items"), list):
        for i, (item, text) in enumerate(_items_with_text(raw, obj["items"])):
            yield from _item_events(item, text, line, f"items[{i}]")
    elif isinstance(obj, dict) and is_audit_event(obj):
        yield audit_event(obj, raw, line, origin)
    else:
        yield unparsed_event(raw, _NOT_AUDIT, line=line, origin=origin)


def _items_with_text(raw: str, items: list[Any]) -> list[tuple[Any, str]]:
    """The items of an EventList with their exact text in `raw` (compact JSON if not found)."""
    try:
        doc = split_document(raw, ("items",))
    except ValueError:
        doc = None
    if doc is not None and doc.records is not None and len(doc.records) == len(items):
        return doc.records
    return [(item, orjson.dumps(item).decode()) for item in items]


def _item_events(item: Any, raw: str, line: int | None, origin: str) -> Iterator[Event]:
    if isinstance(item, dict) and is_audit_event(item):
        yield audit_event(item, raw, line, origin)
    else:
        yield unparsed_event(raw, _NOT_AUDIT, line=line, origin=origin)


class K8sAuditParser(Parser):
    name = "k8s_audit"
    description = "Kubernetes API server audit log (audit.k8s.io Event, one JSON object a line)"
    # The API server's log backend writes one event a line. (A pretty-printed EventList file
    # is read whole when parsing starts at its beginning.)
    splittable = True

    def score(self, head: Head) -> tuple[float, str]:
        text = head.text
        if not text.lstrip().startswith(("{", "[")):
            return 0.0, ""
        if _AUDIT_ID_RE.search(text) and _STAGE_RE.search(text):
            return 0.95, "JSON objects with auditID and an audit stage (audit.k8s.io Event)"
        if _API_RE.search(text) and _KIND_RE.search(text):
            return 0.9, "JSON with apiVersion audit.k8s.io and kind Event/EventList"
        return 0.0, ""

    def parse(self, source: Source) -> Iterator[Event]:
        if source.start_offset == 0 and _PRETTY_START.match(source.peek(1024) or b""):
            data = source.read_all()
            try:
                doc = read_document(data, ("items",))
            except ValueError:
                yield from self._lines(split_lines(data, source.start_line))
                return
            if isinstance(doc.value, list) and doc.records is not None:
                for i, (item, text) in enumerate(doc.records):
                    yield from _item_events(item, text, None, f"[{i}]")
            elif isinstance(doc.value, dict) and doc.value.get("kind") == "EventList":
                yield from _object_events(doc.value, doc.text, None, None)
            else:
                yield from _object_events(doc.value, doc.text, source.start_line, None)
            return
        yield from self._lines(source.lines())

    def _lines(self, lines: Iterable[tuple[int, str]]) -> Iterator[Event]:
        return json_lines(lines, "k8s_audit", lambda obj, text, number: _object_events(obj, text, number, None))


parser = K8sAuditParser()

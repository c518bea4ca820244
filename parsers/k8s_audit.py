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
from urllib.parse import parse_qs

import orjson

from auditctl.plugins import Parser
from auditctl.rawbytes import decode_record, loads_json
from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head, Source
from auditctl.timeutil import parse_iso

APP = "kube-apiserver"
_RBAC = "rbac.authorization.k8s.io"
_READS = frozenset({"get", "list", "watch"})
_DELETES = frozenset({"delete", "deletecollection"})
_BINDING_WRITES = frozenset({"create", "update", "patch"})
_SA_ACTIONS = {"create": "user_created", "delete": "user_deleted",
               "deletecollection": "user_deleted", "update": "user_modified",
               "patch": "user_modified"}
_EMPTY = frozenset({"", "?", "(unknown)"})
_NOT_AUDIT = "k8s_audit: not a Kubernetes audit event"

_STAGE_RE = re.compile(
    r'"stage"\s*:\s*"(?:RequestReceived|ResponseStarted|ResponseComplete|Panic)"')
_AUDIT_ID_RE = re.compile(r'"auditID"\s*:\s*"')
_API_RE = re.compile(r'"apiVersion"\s*:\s*"audit\.k8s\.io/v1')
_KIND_RE = re.compile(r'"kind"\s*:\s*"(?:Event|EventList)"')
_PRETTY_START = re.compile(rb"^\s*[\{\[]\s*\r?\n")


def _s(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    return None if value.strip() in _EMPTY else value


def _time(ev: dict[str, Any]):
    for key in ("stageTimestamp", "requestReceivedTimestamp", "timestamp"):
        value = ev.get(key)
        if isinstance(value, str) and value:
            try:
                return parse_iso(value)
            except ValueError:
                continue
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _subject_name(subject: dict[str, Any]) -> str | None:
    name = _s(subject.get("name"))
    namespace = _s(subject.get("namespace"))
    if name and namespace and subject.get("kind") == "ServiceAccount":
        return f"system:serviceaccount:{namespace}:{name}"
    return name


def _binding(ev: dict[str, Any], attrs: dict[str, Any]) -> tuple[str | None, str | None]:
    """(role, target) from the binding in the request or response object."""
    for key in ("requestObject", "responseObject"):
        obj = _dict(ev.get(key))
        ref = _dict(obj.get("roleRef"))
        if not ref:
            continue
        role_kind = _s(ref.get("kind"))
        if role_kind:
            attrs["role_kind"] = role_kind
        listed = obj.get("subjects")
        subjects = [s for s in listed if isinstance(s, dict)] if isinstance(listed, list) else []
        names = [n for n in map(_subject_name, subjects) if n]
        kinds = sorted({k for k in (_s(s.get("kind")) for s in subjects) if k})
        if kinds:
            attrs["subject_kinds"] = kinds
        return _s(ref.get("name")), ",".join(names) or None
    return None, None


def audit_event(ev: dict[str, Any], raw: str, line: int | None, origin: str | None) -> Event:
    """One audit.k8s.io Event object to an Event; one of an unexpected shape becomes unparsed."""
    try:
        return _map_event(ev, raw, line, origin)
    except Exception as exc:  # a field of an unexpected type: keep the record, say why
        return unparsed_event(raw, f"k8s_audit: cannot map event: {type(exc).__name__}: {exc}",
                              line=line, origin=origin)


def _map_event(ev: dict[str, Any], raw: str, line: int | None, origin: str | None) -> Event:
    attrs: dict[str, Any] = {}
    verb = _s(ev.get("verb"))
    stage = _s(ev.get("stage"))
    if stage:
        attrs["stage"] = stage
    user = _dict(ev.get("user"))
    actor = _s(user.get("username"))
    groups = user.get("groups")
    if isinstance(groups, list) and groups:
        attrs["user_groups"] = groups
    impersonated = _s(_dict(ev.get("impersonatedUser")).get("username"))
    if impersonated:
        attrs["impersonated_user"] = impersonated
    ips = ev.get("sourceIPs")
    src_ip = _s(ips[0]) if isinstance(ips, list) and ips else None
    if isinstance(ips, list) and len(ips) > 1:
        attrs["source_ips"] = ips

    status = _dict(ev.get("responseStatus"))
    code = status.get("code")
    if not isinstance(code, int):
        code = None
    if code is not None:
        attrs["code"] = code
    annotations = _dict(ev.get("annotations"))
    decision = _s(annotations.get("authorization.k8s.io/decision"))
    if decision:
        attrs["decision"] = decision
    why = _s(annotations.get("authorization.k8s.io/reason"))
    if why:
        attrs["authz_reason"] = why[:300]
    if stage == "Panic":
        outcome = "failure"
    elif code is not None:
        outcome = "success" if code < 400 else "failure"
    elif decision == "forbid":
        outcome = "failure"
    else:
        outcome = "unknown"
    if outcome == "failure":
        reason, message = _s(status.get("reason")), _s(status.get("message"))
        if reason:
            attrs["status_reason"] = reason
        if message:
            attrs["status_message"] = message[:300]

    ref = _dict(ev.get("objectRef"))
    kind = _s(ref.get("resource"))
    sub = _s(ref.get("subresource"))
    group = ref.get("apiGroup") or ""
    namespace = _s(ref.get("namespace"))
    name = _s(ref.get("name"))
    if name is None and verb == "create":
        name = _s(_dict(_dict(ev.get("requestObject")).get("metadata")).get("name"))
    if group:
        attrs["api_group"] = group
    uri = _s(ev.get("requestURI"))
    resource = None
    if kind:
        resource = "/".join(p for p in (kind, namespace, name, sub) if p)
    elif uri:
        resource = uri.split("?", 1)[0]  # a non-resource URL such as /healthz

    target = role = None
    if code == 401:
        category, action = "authentication", "authenticate"
    elif not kind:
        category, action = "system", "log"
    elif kind == "pods" and sub in ("exec", "attach"):
        category, action = "privileged_action", "command_run"
        query = parse_qs(uri.split("?", 1)[1]) if uri and "?" in uri else {}
        if query.get("command"):
            attrs["command"] = " ".join(query["command"])
        if query.get("container"):
            attrs["container"] = query["container"][0]
    elif group == _RBAC and kind in ("rolebindings", "clusterrolebindings") \
            and (verb in _BINDING_WRITES or verb in _DELETES):
        category = "permission_change"
        action = "role_revoked" if verb in _DELETES else "role_granted"
        role, target = _binding(ev, attrs)
    elif group == _RBAC and kind in ("roles", "clusterroles") \
            and (verb in _BINDING_WRITES or verb in _DELETES):
        category, action = "policy_change", "policy_changed"
    elif kind == "serviceaccounts" and not sub and verb in _SA_ACTIONS:
        category, action = "user_management", _SA_ACTIONS[verb]
        # the user name the account logs in with, as in `actor` of its own requests
        target = f"system:serviceaccount:{namespace}:{name}" if name and namespace else name
    elif verb in _READS or kind == "secrets":
        category, action = "data_access", "access"
    else:
        category, action = "system", "log"
    if sub:
        attrs["subresource"] = sub
    if uri and (not kind or action == "command_run"):
        attrs["request_uri"] = uri[:500]

    summary = f"{actor or 'unknown'} {verb or '?'} {resource or '?'}"
    if role:
        summary += f" ({role} -> {target or '?'})"
    if "command" in attrs:
        summary += f": {attrs['command']}"
    if code is not None:
        summary += f" [{code}]"
    elif stage:
        summary += f" [{stage}]"

    return Event(
        ts=_time(ev), category=category, action=action, outcome=outcome, app=APP, actor=actor,
        target=target, role=role, resource=resource, src_ip=src_ip,
        user_agent=_s(ev.get("userAgent")), session=_s(ev.get("auditID")), message=summary,
        original_action=verb, raw=raw, attrs=attrs or None, line=line, origin=origin)


def _is_audit_event(obj: dict[str, Any]) -> bool:
    return "auditID" in obj or ("verb" in obj and "stage" in obj)


def _object_events(obj: Any, raw: str, line: int | None, origin: str | None) -> Iterator[Event]:
    """Events of one decoded JSON value: an Event, an EventList, or something unknown."""
    if isinstance(obj, dict) and obj.get("kind") == "EventList" \
            and isinstance(obj.get("items"), list):
        for i, item in enumerate(obj["items"]):
            yield from _item_events(item, line, f"items[{i}]")
    elif isinstance(obj, dict) and _is_audit_event(obj):
        yield audit_event(obj, raw, line, origin)
    else:
        yield unparsed_event(raw, _NOT_AUDIT, line=line, origin=origin)


def _item_events(item: Any, line: int | None, origin: str) -> Iterator[Event]:
    raw = orjson.dumps(item).decode()
    if isinstance(item, dict) and _is_audit_event(item):
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
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                yield from self._lines(_split_lines(data, source.start_line))
                return
            if isinstance(obj, list):
                for i, item in enumerate(obj):
                    yield from _item_events(item, None, f"[{i}]")
            elif isinstance(obj, dict) and obj.get("kind") == "EventList":
                yield from _object_events(obj, "", None, None)
            else:
                text = decode_record(data)
                yield from _object_events(obj, text, source.start_line, None)
            return
        yield from self._lines(source.lines())

    def _lines(self, lines: Iterable[tuple[int, str]]) -> Iterator[Event]:
        for number, text in lines:
            if not text.strip():
                continue
            try:
                obj = loads_json(text)
            except orjson.JSONDecodeError as exc:
                yield unparsed_event(text, f"k8s_audit: invalid JSON: {exc}", line=number)
                continue
            yield from _object_events(obj, text, number, None)


def _split_lines(data: bytes, start_line: int) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(data.split(b"\n"), start=start_line):
        yield number, decode_record(raw.rstrip(b"\r"))


parser = K8sAuditParser()

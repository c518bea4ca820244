"""Mapping one Kubernetes API server audit event (`audit.k8s.io` Event) to the schema.

Shared by the `k8s_audit` plugin (the API server's own log) and the `azure` plugin (AKS
`kube-audit` diagnostic records wrap the same event as JSON text). The mapping is documented
in the `k8s_audit` plugin.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from auditctl.schema import Event, unparsed_event
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


def is_audit_event(obj: dict[str, Any]) -> bool:
    return "auditID" in obj or ("verb" in obj and "stage" in obj)

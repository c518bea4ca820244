"""Google Cloud Audit Logs: `LogEntry` records whose `protoPayload` is an `AuditLog`.

Shapes read: one LogEntry a line (log sinks to Cloud Storage, Pub/Sub exports), a JSON array
(`gcloud logging read --format=json`, pretty-printed; origin `[i]`, raw = the entry's
own text) and the `{"entries": [...]}` answer of `entries.list` (origin `entries[i]`). All audit
log kinds are read: Admin Activity (`logName` .../cloudaudit.googleapis.com%2Factivity), Data
Access (`%2Fdata_access`), System Event (`%2Fsystem_event`) and Policy Denied (`%2Fpolicy`); the
kind is in attrs.log_type. Other LogEntries (textPayload/jsonPayload) become system/log; a line
that is not JSON or an object that is no LogEntry is kept as unparsed.

Fields: actor = `protoPayload.authenticationInfo.principalEmail` (else principalSubject; the
first delegating principal of a service account impersonation in attrs.delegated_from);
src_ip = `requestMetadata.callerIp` when it is an address (values such as `gce-internal-ip` go
to attrs.caller_ip); user_agent = `requestMetadata.callerSuppliedUserAgent`; host =
`resource.labels.project_id` (else the project in `logName`); app = `serviceName`; resource =
`resourceName`; session = `operation.id`, else `insertId` (always in attrs.event_id); ts =
`timestamp`. Outcome: `status.code` other than 0 -> failure (code and message in attrs), Policy
Denied entries -> failure, otherwise success.

Methods (matched on the last part of `methodName`, see `METHODS`):
* SetIamPolicy / setIamPolicy / setIamPermissions: one event per `serviceData.policyDelta`
  binding delta, ADD -> role_granted, REMOVE -> role_revoked, role = the role, target = the
  member without its `user:`/`serviceAccount:`/`group:` prefix (the kind in attrs.member_type);
  one event per audit config delta -> audit_config_changed. With several deltas the events share
  the entry's raw and line and are told apart by origin `bindingDeltas[i]`/`auditConfigDeltas[i]`.
  Without deltas: policy_change/policy_changed.
* service accounts: Create -> user_created, Delete -> user_deleted, Disable -> user_locked,
  Enable -> user_unlocked, Patch/Update -> user_modified; keys: Create/Upload -> password_changed
  ("credential set"), Delete/Disable -> user_modified; target = the service account.
* IAM custom roles (Create/Update/Delete/UndeleteRole) and compute firewall rule writes ->
  policy_changed; logging sinks Create/Update/Delete -> audit_config_changed, DeleteLog ->
  log_cleared.
* AccessSecretVersion, storage.objects.get/list/create/delete -> data_access/access;
  GenerateAccessToken / GenerateIdToken (impersonating a service account) -> privileged_action/
  privilege_escalation with role = the service account.
* Google Workspace sign-ins shared into Cloud Audit Logs (`google.login.LoginService.*`):
  loginSuccess/loginFailure -> authentication/login success/failure (the attempt), logout ->
  logout, loginChallenge/loginVerification -> authenticate (a check within a sign-in).
* other methods: entries of the Data Access log -> data_access/access, others -> system/log.
"""

from __future__ import annotations

import re
from typing import Any

from auditctl.ingest.addresses import is_ip
from auditctl.ingest.jsonrecords import JsonRecordsParser, as_dict, iso_time, json_text, text_or_none
from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head

NAME = "gcp_audit"
AUDIT_LOG_TYPE = "type.googleapis.com/google.cloud.audit.AuditLog"
_UM, _PC, _POL, _PA, _DA, _SYS = (
    "user_management", "permission_change", "policy_change", "privileged_action", "data_access",
    "system")
_IAM = ("", "")  # marker: IAM policy set, mapped per binding delta

# last part of methodName -> (category, action, required methodName prefix or "")
METHODS: dict[str, tuple[str, str, str]] = {
    "SetIamPolicy": (*_IAM, ""),
    "setIamPolicy": (*_IAM, ""),
    "setIamPermissions": (*_IAM, ""),
    "CreateServiceAccount": (_UM, "user_created", "google.iam.admin."),
    "DeleteServiceAccount": (_UM, "user_deleted", "google.iam.admin."),
    "DisableServiceAccount": (_UM, "user_locked", "google.iam.admin."),
    "EnableServiceAccount": (_UM, "user_unlocked", "google.iam.admin."),
    "PatchServiceAccount": (_UM, "user_modified", "google.iam.admin."),
    "UpdateServiceAccount": (_UM, "user_modified", "google.iam.admin."),
    "CreateServiceAccountKey": (_UM, "password_changed", "google.iam.admin."),
    "UploadServiceAccountKey": (_UM, "password_changed", "google.iam.admin."),
    "DeleteServiceAccountKey": (_UM, "user_modified", "google.iam.admin."),
    "DisableServiceAccountKey": (_UM, "user_modified", "google.iam.admin."),
    "CreateRole": (_POL, "policy_changed", "google.iam.admin."),
    "UpdateRole": (_POL, "policy_changed", "google.iam.admin."),
    "DeleteRole": (_POL, "policy_changed", "google.iam.admin."),
    "UndeleteRole": (_POL, "policy_changed", "google.iam.admin."),
    "CreateSink": (_POL, "audit_config_changed", "google.logging.v2."),
    "UpdateSink": (_POL, "audit_config_changed", "google.logging.v2."),
    "DeleteSink": (_POL, "audit_config_changed", "google.logging.v2."),
    "DeleteLog": (_POL, "log_cleared", "google.logging.v2."),
    "AccessSecretVersion": (_DA, "access", "google.cloud.secretmanager."),
    "GenerateAccessToken": (_PA, "privilege_escalation", ""),
    "GenerateIdToken": (_PA, "privilege_escalation", ""),
}
# whole methodName -> (category, action)
FULL_METHODS: dict[str, tuple[str, str]] = {
    "storage.objects.get": (_DA, "access"),
    "storage.objects.list": (_DA, "access"),
    "storage.objects.create": (_DA, "access"),
    "storage.objects.delete": (_DA, "access"),
}
# Google Workspace sign-ins shared into Cloud Audit Logs (serviceName login.googleapis.com):
# method -> (action, outcome). A success or failure is the sign-in attempt itself; a challenge or
# verification is a check inside one (issue 16 contract: counted as authenticate, not as a login).
LOGIN_METHODS: dict[str, tuple[str, str | None]] = {
    "google.login.LoginService.loginSuccess": ("login", "success"),
    "google.login.LoginService.loginFailure": ("login", "failure"),
    "google.login.LoginService.logout": ("logout", "success"),
    "google.login.LoginService.loginChallenge": ("authenticate", None),
    "google.login.LoginService.loginVerification": ("authenticate", None),
}
_FIREWALL_RE = re.compile(r"(?:^|\.)compute\.firewalls\.(?:insert|patch|update|delete)$")
_SA_METHODS = frozenset(k for k, v in METHODS.items() if "ServiceAccount" in k)
_IMPERSONATION = frozenset({"GenerateAccessToken", "GenerateIdToken"})
_LOG_TYPES = {"activity": "admin_activity", "data_access": "data_access",
              "system_event": "system_event", "policy": "policy_denied"}
_MEMBER_KINDS = ("user:", "serviceAccount:", "group:", "domain:", "principal:", "principalSet:")
_DELTA_ACTIONS = {"ADD": "role_granted", "REMOVE": "role_revoked"}

# --- detection ---------------------------------------------------------------------------------
_PROTO_RE = re.compile(r'"protoPayload"\s*:\s*\{')
_AUDIT_TYPE_RE = re.compile(r'"@type"\s*:\s*"type\.googleapis\.com/google\.cloud\.audit\.AuditLog"')
_AUDIT_LOG_NAME_RE = re.compile(r'"logName"\s*:\s*"[^"]*/logs/cloudaudit\.googleapis\.com%2F')
_METHOD_RE = re.compile(r'"methodName"\s*:\s*"')


# null is "no value"; any text ("-", "None") is a value
_s = text_or_none


_d = as_dict



_time = iso_time


def _service_account(name: Any) -> str | None:
    """`projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com[/keys/k]` -> the account."""
    text = _s(name)
    if text is None or "/serviceAccounts/" not in text:
        return None
    return _s(text.split("/serviceAccounts/", 1)[1].split("/", 1)[0])


def _member(member: str, attrs: dict[str, Any]) -> str:
    for kind in _MEMBER_KINDS:
        if member.startswith(kind):
            attrs["member_type"] = kind[:-1]
            return member[len(kind):]
    return member


def _record(rec: dict[str, Any], raw: str, line: int | None, origin: str | None) -> Event | list[Event]:
    proto = rec.get("protoPayload")
    log_name = _s(rec.get("logName"))
    resource_obj = _d(rec.get("resource"))
    labels = _d(resource_obj.get("labels"))
    host = _s(labels.get("project_id"))
    if host is None and log_name and log_name.startswith("projects/"):
        host = log_name.split("/", 2)[1]
    ts = _time(rec.get("timestamp")) or _time(rec.get("receiveTimestamp"))
    attrs: dict[str, Any] = {}
    insert_id = _s(rec.get("insertId"))
    if insert_id:
        attrs["event_id"] = insert_id
    log_type = None
    if log_name and "/logs/" in log_name:
        kind = log_name.rsplit("/logs/", 1)[1]
        if kind.startswith("cloudaudit.googleapis.com%2F"):
            log_type = _LOG_TYPES.get(kind.split("%2F", 1)[1], kind)
        else:
            attrs["log"] = kind.replace("%2F", "/")
    if log_type:
        attrs["log_type"] = log_type
    severity = _s(rec.get("severity"))
    if severity:
        attrs["severity"] = severity
    if _s(resource_obj.get("type")):
        attrs["resource_type"] = resource_obj["type"]

    if not isinstance(proto, dict) or proto.get("@type") != AUDIT_LOG_TYPE:
        if log_name is None and ts is None:
            return unparsed_event(raw, "gcp_audit: not a Cloud Logging LogEntry", line=line,
                                  origin=origin)
        text = _s(rec.get("textPayload")) or _s(_d(rec.get("jsonPayload")).get("message"))
        return Event(ts=ts, category=_SYS, action="log", host=host, session=insert_id,
                     message=(text or f"log entry in {attrs.get('log') or log_name}")[:500],
                     raw=raw, attrs=attrs or None, line=line, origin=origin)

    method = _s(proto.get("methodName")) or ""
    service = _s(proto.get("serviceName"))
    resource = _s(proto.get("resourceName"))
    auth = _d(proto.get("authenticationInfo"))
    actor = _s(auth.get("principalEmail")) or _s(auth.get("principalSubject"))
    chain = auth.get("serviceAccountDelegationInfo")
    if isinstance(chain, list) and chain and isinstance(chain[0], dict):
        first = _d(chain[0].get("firstPartyPrincipal"))
        if _s(first.get("principalEmail")):
            attrs["delegated_from"] = first["principalEmail"]
    if _s(auth.get("serviceAccountKeyName")):
        attrs["service_account_key"] = auth["serviceAccountKeyName"]
    meta = _d(proto.get("requestMetadata"))
    caller = _s(meta.get("callerIp"))
    src_ip = None
    if caller:
        if is_ip(caller):
            src_ip = caller
        else:
            attrs["caller_ip"] = caller
    user_agent = _s(meta.get("callerSuppliedUserAgent"))
    operation = _d(rec.get("operation"))
    session = _s(operation.get("id")) or insert_id

    status = _d(proto.get("status"))
    code = status.get("code")
    outcome = "success"
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        outcome = "failure"
        attrs["status_code"] = code
        if _s(status.get("message")):
            attrs["status_message"] = str(status["message"])[:500]
    if log_type == "policy_denied":
        outcome = "failure"

    request = _d(proto.get("request"))
    response = _d(proto.get("response"))
    short = method.rsplit(".", 1)[-1]
    rule = METHODS.get(short)
    if rule is not None and rule[2] and not method.startswith(rule[2]):
        rule = None
    target = role = None
    if rule is not None and rule[0] == "":
        deltas = _d(_d(proto.get("serviceData")).get("policyDelta"))
        events = _policy_events(deltas, raw, line, origin, ts, host, service, actor, src_ip,
                                user_agent, session, method, resource, outcome, attrs)
        if events:
            return events
        category, action = _POL, "policy_changed"
    elif rule is not None:
        category, action = rule[0], rule[1]
        if short in _SA_METHODS:
            target = (_s(response.get("email")) or _service_account(response.get("name"))
                      or _service_account(request.get("name")) or _s(labels.get("email_id"))
                      or _s(request.get("account_id")))
        elif short in _IMPERSONATION:
            role = _service_account(request.get("name")) or _service_account(resource)
    elif method in FULL_METHODS:
        category, action = FULL_METHODS[method]
    elif method in LOGIN_METHODS:
        category = "authentication"
        action, stated = LOGIN_METHODS[method]
        outcome = stated or outcome
    elif _FIREWALL_RE.search(method):
        category, action = _POL, "policy_changed"
    elif log_type == "data_access":
        category, action = _DA, "access"
    else:
        category, action = _SYS, "log"

    return Event(
        ts=ts, category=category, action=action, outcome=outcome, host=host, app=service,
        actor=actor, target=target, role=role, resource=resource, src_ip=src_ip,
        user_agent=user_agent, session=session,
        message=_summary(actor, method, target, role, resource, outcome, attrs),
        original_action=method or None, raw=raw, attrs=attrs or None, line=line, origin=origin)


def _policy_events(deltas: dict[str, Any], raw: str, line: int | None,
                   origin: str | None, ts, host, service, actor, src_ip, user_agent, session,
                   method: str, resource: str | None, outcome: str, attrs: dict[str, Any]) -> list[Event]:
    """One event per binding delta and per audit config delta of a SetIamPolicy entry."""
    items: list[tuple[str, int, dict[str, Any]]] = []
    for key in ("bindingDeltas", "auditConfigDeltas"):
        value = deltas.get(key)
        if isinstance(value, list):
            items.extend((key, i, d) for i, d in enumerate(value) if isinstance(d, dict))
    events = []
    several = len(items) > 1
    for key, i, delta in items:
        ev_attrs = dict(attrs)
        delta_action = _s(delta.get("action"))
        if delta_action:
            ev_attrs["delta_action"] = delta_action
        if key == "bindingDeltas":
            member = _s(delta.get("member"))
            if member:
                ev_attrs["member"] = member
            target = _member(member, ev_attrs) if member else None
            role = _s(delta.get("role"))
            category = "permission_change"
            action = _DELTA_ACTIONS.get((delta_action or "").upper(), "role_granted")
            if (delta_action or "").upper() not in _DELTA_ACTIONS:
                category, action = _POL, "policy_changed"
            if isinstance(delta.get("condition"), dict) and _s(delta["condition"].get("title")):
                ev_attrs["condition"] = delta["condition"]["title"]
        else:
            target = role = None
            category, action = _POL, "audit_config_changed"
            for field, attr in (("service", "audit_service"), ("logType", "audit_log_type"),
                                ("exemptedMember", "exempted_member")):
                if _s(delta.get(field)):
                    ev_attrs[attr] = delta[field]
        where = f"{key}[{i}]"
        ev_origin = (f"{origin}.{where}" if origin else where) if several else origin
        events.append(Event(
            ts=ts, category=category, action=action, outcome=outcome, host=host, app=service,
            actor=actor, target=target, role=role, resource=resource, src_ip=src_ip,
            user_agent=user_agent, session=session,
            message=_summary(actor, method, target, role, resource, outcome, ev_attrs),
            original_action=method or None, raw=raw, attrs=ev_attrs or None, line=line,
            origin=ev_origin))
    return events


def _summary(actor, method, target, role, resource, outcome, attrs) -> str:
    text = f"{actor or 'unknown'}: {method or 'call'}"
    if attrs.get("delta_action"):
        text += f" {attrs['delta_action']}"
    if role:
        text += f" {role}"
    if target:
        text += f" {'to' if attrs.get('delta_action') == 'ADD' else 'for'} {target}"
    if attrs.get("audit_service"):
        text += f" audit config {attrs['audit_service']} {attrs.get('audit_log_type') or ''}".rstrip()
    if resource and resource not in (target, role):
        text += f" on {resource}"
    if outcome == "failure":
        text += f" failed ({attrs.get('status_message') or attrs.get('status_code') or 'denied'})"
    return text


class GcpAuditParser(JsonRecordsParser):
    name = NAME
    description = "Google Cloud Audit Logs (LogEntry with an AuditLog protoPayload): JSON lines or arrays"
    map_record = staticmethod(_record)
    wrappers = ("entries",)

    def score(self, head: Head) -> tuple[float, str]:
        text = json_text(head)
        if text is None:
            return 0.0, ""
        if _PROTO_RE.search(text):
            if _AUDIT_TYPE_RE.search(text) or _AUDIT_LOG_NAME_RE.search(text):
                return 0.95, "Cloud Logging entries with an AuditLog protoPayload"
            if _METHOD_RE.search(text):
                return 0.9, "Cloud Logging entries with protoPayload.methodName"
        return 0.0, ""


parser = GcpAuditParser()

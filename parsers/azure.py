"""Azure logs exported by diagnostic settings (storage account PT1H.json, Event Hub), JSON.

Records with `time`, `resourceId`, `operationName`, `category` and `properties`, one a line
(storage account blobs) or wrapped in `{"records": [...]}` (Event Hub messages; one such message
a line, or a whole document: origin `records[i]`, raw = the record's own text); a plain
JSON array is read too (origin `[i]`). The record kind comes from `category`:

* Microsoft Entra ID sign-ins: `SignInLogs` -> authentication/login;
  `NonInteractiveUserSignInLogs`, `ServicePrincipalSignInLogs`, `ManagedIdentitySignInLogs`
  (token requests without an interactive logon) -> authentication/authenticate. Outcome:
  `properties.status.errorCode` 0 -> success, another code -> failure (code and failureReason in
  attrs); actor = `properties.userPrincipalName` (else servicePrincipalName); src_ip =
  `properties.ipAddress` (else callerIpAddress); app = `properties.appDisplayName`; resource =
  `properties.resourceDisplayName`.
* Microsoft Entra ID `AuditLogs`: `operationName` looked up in `AUDIT_OPERATIONS` (Add user,
  Delete user, Update user, password resets and changes, group and role membership, conditional
  access policies...); actor = `properties.initiatedBy.user.userPrincipalName` (else the
  initiating app's displayName); target = the `User` target resource's userPrincipalName (else a
  service principal's displayName); role = the `Group` or `Role` target's displayName, else the
  `Group.DisplayName`/`Role.DisplayName` modified property; outcome from `properties.result`;
  app = `properties.loggedByService`. Unknown operations -> system/log.
* Azure Activity Log (`Administrative`, `Security`, `Policy`, ... and the older
  `Write`/`Delete`/`Action`): `operationName` looked up in `ACTIVITY_OPERATIONS`:
  `MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE` -> role_granted and `/DELETE` ->
  role_revoked, with role = the role definition (a built-in role's name when its id is in
  `BUILTIN_ROLES`, else the id; the id always in attrs), target = the principal id and resource =
  the scope, read from `properties.requestbody` (write) or `properties.responseBody`; role
  definitions, policy assignments, network security rules, key vault access policies ->
  policy_changed; diagnostic settings -> audit_config_changed; storage `listKeys` ->
  data_access/access; VM run command -> command_run; anything else -> system/log. actor =
  `caller` when present, else the `upn` / `name` claim of `identity.claims`, else the `appid`
  claim; outcome from `resultType` (Success/Succeeded -> success, Failure/Failed -> failure,
  Start/Accept/Active/... -> unknown).

* AKS control-plane logs of category `kube-audit` / `kube-audit-admin`: `properties.log` holds
  a Kubernetes audit event as JSON text; it is mapped as the `k8s_audit` parser maps it (same
  library code, `auditctl.ingest.k8s`), with the Azure context in attrs: `log_category`,
  `azure_resource_id`, `cluster` (the managedClusters name), `pod`, `stream`. A record whose
  log is not an audit event is kept as unparsed. Other AKS categories (kube-apiserver,
  guard, ...) are system/log.

Common: ts = `time`; host = the subscription id of `resourceId`, else `tenantId`; session =
`correlationId`; src_ip = `callerIpAddress` unless the kind has a better field. Records without
`operationName` and `category` are kept as unparsed.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from auditctl.ingest.addresses import is_ip
from auditctl.ingest.jsonrecords import JsonRecordsParser, as_dict, iso_time, json_text, text_or_none
from auditctl.ingest.k8s import audit_event, is_audit_event
from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head

NAME = "azure"
_AU, _UM, _PC, _POL, _PA, _DA, _SYS = (
    "authentication", "user_management", "permission_change", "policy_change",
    "privileged_action", "data_access", "system")

SIGN_IN_CATEGORIES: dict[str, str] = {
    "signinlogs": "login",
    "adfssigninlogs": "login",
    "noninteractiveusersigninlogs": "authenticate",
    "serviceprincipalsigninlogs": "authenticate",
    "managedidentitysigninlogs": "authenticate",
    "microsoftserviceprincipalsigninlogs": "authenticate",
}
_GROUP, _ROLE = "Group", "Role"
# Entra ID audit operationName (lower case) -> (category, action, where the role comes from)
AUDIT_OPERATIONS: dict[str, tuple[str, str, str | None]] = {
    "add user": (_UM, "user_created", None),
    "delete user": (_UM, "user_deleted", None),
    "hard delete user": (_UM, "user_deleted", None),
    "update user": (_UM, "user_modified", None),
    "disable account": (_UM, "user_locked", None),
    "enable account": (_UM, "user_unlocked", None),
    "reset password (by admin)": (_UM, "password_changed", None),
    "reset user password": (_UM, "password_changed", None),
    "change user password": (_UM, "password_changed", None),
    "change password (self-service)": (_UM, "password_changed", None),
    "reset password (self-service)": (_UM, "password_changed", None),
    "set force change user password": (_UM, "password_changed", None),
    "add service principal credentials": (_UM, "password_changed", None),
    "add group": (_UM, "group_created", _GROUP),
    "delete group": (_UM, "group_deleted", _GROUP),
    "update group": (_UM, "group_modified", _GROUP),
    "add member to group": (_PC, "group_member_added", _GROUP),
    "remove member from group": (_PC, "group_member_removed", _GROUP),
    "add member to role": (_PC, "role_granted", _ROLE),
    "remove member from role": (_PC, "role_revoked", _ROLE),
    "add eligible member to role": (_PC, "role_granted", _ROLE),
    "remove eligible member from role": (_PC, "role_revoked", _ROLE),
    "add conditional access policy": (_POL, "policy_changed", None),
    "update conditional access policy": (_POL, "policy_changed", None),
    "delete conditional access policy": (_POL, "policy_changed", None),
}
# Activity Log operationName (upper case) -> (category, action)
ACTIVITY_OPERATIONS: dict[str, tuple[str, str]] = {
    "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE": (_PC, "role_granted"),
    "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/DELETE": (_PC, "role_revoked"),
    "MICROSOFT.AUTHORIZATION/ROLEDEFINITIONS/WRITE": (_POL, "policy_changed"),
    "MICROSOFT.AUTHORIZATION/ROLEDEFINITIONS/DELETE": (_POL, "policy_changed"),
    "MICROSOFT.AUTHORIZATION/POLICYASSIGNMENTS/WRITE": (_POL, "policy_changed"),
    "MICROSOFT.AUTHORIZATION/POLICYASSIGNMENTS/DELETE": (_POL, "policy_changed"),
    "MICROSOFT.AUTHORIZATION/POLICYDEFINITIONS/WRITE": (_POL, "policy_changed"),
    "MICROSOFT.AUTHORIZATION/POLICYDEFINITIONS/DELETE": (_POL, "policy_changed"),
    "MICROSOFT.AUTHORIZATION/POLICYEXEMPTIONS/WRITE": (_POL, "policy_changed"),
    "MICROSOFT.AUTHORIZATION/POLICYEXEMPTIONS/DELETE": (_POL, "policy_changed"),
    "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WRITE": (_POL, "policy_changed"),
    "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/DELETE": (_POL, "policy_changed"),
    "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SECURITYRULES/WRITE": (_POL, "policy_changed"),
    "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SECURITYRULES/DELETE": (_POL, "policy_changed"),
    "MICROSOFT.KEYVAULT/VAULTS/ACCESSPOLICIES/WRITE": (_POL, "policy_changed"),
    "MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/WRITE": (_POL, "audit_config_changed"),
    "MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE": (_POL, "audit_config_changed"),
    "MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION": (_DA, "access"),
    "MICROSOFT.COMPUTE/VIRTUALMACHINES/RUNCOMMAND/ACTION": (_PA, "command_run"),
}
_ROLE_ASSIGNMENT = frozenset({"MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE",
                              "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/DELETE"})
# Built-in role definition ids (the same in every tenant) -> role name.
BUILTIN_ROLES: dict[str, str] = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "9980e02c-c2be-4d73-94e8-173b1dc7cf3c": "Virtual Machine Contributor",
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
}
_RESULTS = {"success": "success", "succeeded": "success", "failure": "failure", "failed": "failure"}
_UPN_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
_NAME_CLAIM = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
_OID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
_SUBSCRIPTION_RE = re.compile(r"^/subscriptions/([^/]+)", re.I)
_CLUSTER_RE = re.compile(r"/managedClusters/([^/]+)", re.I)
KUBE_AUDIT_CATEGORIES = frozenset({"kube-audit", "kube-audit-admin"})

# --- detection ---------------------------------------------------------------------------------
_RESOURCE_ID_RE = re.compile(r'"resourceId"\s*:\s*"/(?:subscriptions|tenants)/', re.I)
_OPERATION_RE = re.compile(r'"operationName"\s*:\s*"')
_CATEGORY_RE = re.compile(r'"[cC]ategory"\s*:\s*"')
_TIME_RE = re.compile(r'"time"\s*:\s*"\d{4}-\d\d-\d\d')


# null is "no value"; any text ("-", "None") is a value
_s = text_or_none


_d = as_dict


def _get(obj: dict[str, Any], *keys: str) -> Any:
    """The first key present, trying each spelling (`category`/`Category`)."""
    for key in keys:
        value = obj.get(key)
        if value is not None:
            return value
    return None


def _ikey(obj: dict[str, Any], key: str) -> Any:
    """A key looked up without regard to case (request bodies use `Properties` and `properties`)."""
    value = obj.get(key)
    if value is not None:
        return value
    lower = key.lower()
    for k, v in obj.items():
        if isinstance(k, str) and k.lower() == lower:
            return v
    return None



def _ip(value: Any) -> str | None:
    text = _s(value)
    return text if text and is_ip(text) else None


_time = iso_time


def _body(value: Any) -> dict[str, Any]:
    """A request/response body: a JSON object, or a string holding one."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
    return value if isinstance(value, dict) else {}


def _unquote(value: Any) -> str | None:
    """modifiedProperties values are JSON text: `"\\"Sales\\""` -> `Sales`, `[\\"x\\"]` -> `x`."""
    text = _s(value)
    if text is None:
        return None
    if text[0] in '"[':
        try:
            decoded = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
        if isinstance(decoded, list):
            decoded = decoded[0] if decoded else None
        return _s(decoded)
    return text


def _record(rec: dict[str, Any], raw: str, line: int | None, origin: str | None) -> Event:
    category = _s(_get(rec, "category", "Category"))
    operation = _s(_get(rec, "operationName", "OperationName"))
    if category is None and operation is None:
        return unparsed_event(raw, "azure: record has neither operationName nor category "
                              "(not a diagnostic-settings record)", line=line, origin=origin)
    props = _body(_get(rec, "properties", "Properties"))  # an object, or JSON text in some exports
    resource_id = _s(_get(rec, "resourceId", "ResourceId"))
    host = None
    if resource_id:
        m = _SUBSCRIPTION_RE.match(resource_id)
        if m:
            host = m.group(1).lower()
    tenant = _s(_get(rec, "tenantId", "TenantId"))
    if host is None:
        host = tenant
    attrs: dict[str, Any] = {}
    if category:
        attrs["log_category"] = category
    ts = _time(_get(rec, "time", "Time")) or _time(props.get("createdDateTime")) or _time(
        props.get("activityDateTime"))
    session = _s(_get(rec, "correlationId", "CorrelationId"))
    caller_ip = _ip(_get(rec, "callerIpAddress", "CallerIpAddress"))
    kind = (category or "").lower()
    if kind in KUBE_AUDIT_CATEGORIES:
        return _kube_audit(props, category, resource_id, host, ts, raw, line, origin)
    if kind in SIGN_IN_CATEGORIES:
        return _sign_in(rec, props, SIGN_IN_CATEGORIES[kind], operation, ts, host, session,
                        caller_ip, attrs, raw, line, origin)
    if kind == "auditlogs":
        return _audit(props, operation, ts, host, session, caller_ip, attrs, raw, line, origin)
    return _activity(rec, props, operation, resource_id, ts, host, session, caller_ip, attrs, raw,
                     line, origin)


def _kube_audit(props: dict[str, Any], category: str | None, resource_id: str | None,
                host: str | None, ts, raw: str, line: int | None, origin: str | None) -> Event:
    """An AKS diagnostic record wrapping a Kubernetes audit event (as JSON text in `log`)."""
    log = props.get("log")
    try:
        inner = orjson.loads(log) if isinstance(log, str) else log
    except orjson.JSONDecodeError as exc:
        return unparsed_event(raw, f"azure: {category} record: properties.log is not JSON: {exc}",
                              line=line, origin=origin, ts=ts)
    if not isinstance(inner, dict) or not is_audit_event(inner):
        return unparsed_event(raw, f"azure: {category} record: properties.log is not a Kubernetes "
                              "audit event", line=line, origin=origin, ts=ts)
    ev = audit_event(inner, raw, line, origin)
    if ev.action == "unparsed":
        return ev
    attrs = dict(ev.attrs or {})
    attrs["log_category"] = category
    if resource_id:
        attrs["azure_resource_id"] = resource_id
        m = _CLUSTER_RE.search(resource_id)
        if m:
            attrs["cluster"] = m.group(1)
    for key in ("pod", "stream"):
        if _s(props.get(key)):
            attrs[key] = props[key]
    ev.attrs = attrs
    ev.host = host
    ev.ts = ev.ts or ts
    return ev


def _sign_in(rec, props, action, operation, ts, host, session, caller_ip, attrs, raw, line, origin) -> Event:
    actor = (_s(props.get("userPrincipalName")) or _s(props.get("servicePrincipalName"))
             or _s(props.get("servicePrincipalId")) or _s(rec.get("identity")))
    status = _d(props.get("status"))
    code = status.get("errorCode")
    if code is None:
        code = _s(_get(rec, "resultType", "ResultType"))
    outcome = "unknown"
    if code is not None:
        try:
            outcome = "success" if int(code) == 0 else "failure"
        except (TypeError, ValueError):
            outcome = "unknown"
        attrs["error_code"] = code
    reason = _s(status.get("failureReason")) or _s(rec.get("resultDescription"))
    if outcome == "failure" and reason:
        attrs["failure_reason"] = reason[:500]
    for key, attr in (("id", "sign_in_id"), ("userDisplayName", "user_display_name"),
                      ("appId", "app_id"), ("clientAppUsed", "client_app"),
                      ("conditionalAccessStatus", "conditional_access"),
                      ("authenticationRequirement", "authentication_requirement"),
                      ("riskLevelDuringSignIn", "risk_level"), ("isInteractive", "is_interactive")):
        value = props.get(key)
        if value is not None and value != "" and not isinstance(value, dict | list):
            attrs[attr] = value
    country = _s(_d(props.get("location")).get("countryOrRegion"))
    if country:
        attrs["country"] = country
    app = _s(props.get("appDisplayName"))
    src_ip = _ip(props.get("ipAddress")) or caller_ip
    summary = f"{actor or 'unknown'}: sign-in to {app or 'an application'}"
    if outcome == "failure":
        summary += f" failed ({code}: {reason})" if reason else f" failed ({code})"
    return Event(
        ts=ts, category=_AU, action=action, outcome=outcome, host=host, app=app, actor=actor,
        resource=_s(props.get("resourceDisplayName")), src_ip=src_ip,
        user_agent=_s(props.get("userAgent")), session=session, message=summary,
        original_action=operation, raw=raw, attrs=attrs or None, line=line, origin=origin)


def _audit(props, operation, ts, host, session, caller_ip, attrs, raw, line, origin) -> Event:
    initiated = _d(props.get("initiatedBy"))
    user = _d(initiated.get("user"))
    app_init = _d(initiated.get("app"))
    actor = _s(user.get("userPrincipalName")) or _s(app_init.get("displayName")) or _s(
        app_init.get("servicePrincipalName")) or _s(user.get("displayName"))
    src_ip = _ip(user.get("ipAddress")) or caller_ip
    op = (operation or _s(props.get("activityDisplayName")) or "")
    category, action, role_from = AUDIT_OPERATIONS.get(op.lower(), (_SYS, "log", None))
    removal = action in ("group_member_removed", "role_revoked", "group_deleted")

    targets = [t for t in props.get("targetResources") or [] if isinstance(t, dict)]
    user_t = next((t for t in targets if t.get("type") == "User"), None)
    target = role = resource = None
    if user_t is not None:
        target = _s(user_t.get("userPrincipalName")) or _s(user_t.get("displayName"))
    elif category == _UM and role_from is None and targets:
        target = _s(targets[0].get("displayName"))  # a service principal's credentials
    if role_from is not None:
        role_t = next((t for t in targets if t.get("type") == role_from), None)
        if role_t is not None:
            role = _s(role_t.get("displayName"))
        if role is None:
            wanted = f"{role_from}.DisplayName"
            for t in targets:
                for prop in t.get("modifiedProperties") or []:
                    if isinstance(prop, dict) and prop.get("displayName") == wanted:
                        role = _unquote(prop.get("oldValue") if removal else prop.get("newValue")) or _unquote(
                            prop.get("newValue") if removal else prop.get("oldValue"))
                if role:
                    break
    for t in targets:
        if t is user_t or (role_from is not None and t.get("type") == role_from):
            continue
        resource = _s(t.get("displayName")) or _s(t.get("id"))
        if resource and resource != target:
            break
        resource = None

    result = _s(props.get("result"))
    outcome = _RESULTS.get(result.lower(), "unknown") if result else "unknown"
    if result and result.lower() == "timeout":
        outcome = "failure"
    reason = _s(props.get("resultReason"))
    if reason:
        attrs["result_reason"] = reason[:500]
    for key, attr in (("id", "audit_id"), ("category", "audit_category"),
                      ("operationType", "operation_type")):
        if _s(props.get(key)):
            attrs[attr] = props[key]
    user_agent = _s(props.get("userAgent"))
    if user_agent is None:
        for item in props.get("additionalDetails") or []:
            if isinstance(item, dict) and item.get("key") == "User-Agent":
                user_agent = _s(item.get("value"))
                break

    summary = f"{actor or 'unknown'}: {op or 'audit event'}"
    if target:
        summary += f" {target}"
    if role:
        summary += f" {role}"
    elif resource:
        summary += f" {resource}"
    if outcome == "failure":
        summary += f" failed ({reason})" if reason else " failed"
    return Event(
        ts=ts, category=category, action=action, outcome=outcome, host=host,
        app=_s(props.get("loggedByService")), actor=actor, target=target, role=role,
        resource=resource, src_ip=src_ip, user_agent=user_agent, session=session, message=summary,
        original_action=op or None, raw=raw, attrs=attrs or None, line=line, origin=origin)


def _activity(rec, props, operation, resource_id, ts, host, session, caller_ip, attrs, raw, line,
              origin) -> Event:
    op_key = (operation or "").upper()
    category, action = ACTIVITY_OPERATIONS.get(op_key, (_SYS, "log"))
    identity = _d(_get(rec, "identity", "Identity"))
    claims = _d(identity.get("claims"))
    actor = (_s(rec.get("caller")) or _s(claims.get(_UPN_CLAIM)) or _s(claims.get(_NAME_CLAIM))
             or _s(claims.get("appid")))
    for key, attr in (("name", "actor_name"), (_OID_CLAIM, "actor_object_id"), ("appid", "app_id")):
        if _s(claims.get(key)):
            attrs[attr] = claims[key]
    result = _s(_get(rec, "resultType", "ResultType"))
    outcome = _RESULTS.get(result.lower(), "unknown") if result else "unknown"
    if result:
        attrs["result_type"] = result
    signature = _s(_get(rec, "resultSignature", "ResultSignature"))
    if signature:
        attrs["result_signature"] = signature
    if _s(props.get("statusCode")):
        attrs["status_code"] = props["statusCode"]

    target = role = None
    resource = resource_id
    if op_key in _ROLE_ASSIGNMENT:
        request = _d(_ikey(_body(_ikey(props, "requestbody")), "properties"))
        response = _d(_ikey(_body(_ikey(props, "responseBody")), "properties"))
        assignment = request or response
        role_id = _s(_ikey(assignment, "roleDefinitionId"))
        if role_id:
            attrs["role_definition_id"] = role_id
            guid = role_id.rstrip("/").rsplit("/", 1)[-1].lower()
            role = BUILTIN_ROLES.get(guid, guid)
        target = _s(_ikey(assignment, "principalId"))
        principal_type = _s(_ikey(assignment, "principalType"))
        if principal_type:
            attrs["principal_type"] = principal_type
        resource = _s(_ikey(assignment, "scope")) or resource_id
    provider = operation.split("/", 1)[0] if operation and "/" in operation else None

    summary = f"{actor or 'unknown'}: {operation or 'operation'}"
    if role:
        summary += f" {role}"
    if target:
        summary += f" to {target}" if action == "role_granted" else f" from {target}"
    if resource:
        summary += f" on {resource}"
    if outcome == "failure":
        summary += f" failed ({signature or result})"
    elif outcome == "unknown" and result:
        summary += f" ({result})"
    return Event(
        ts=ts, category=category, action=action, outcome=outcome, host=host, app=provider,
        actor=actor, target=target, role=role, resource=resource, src_ip=caller_ip,
        session=session, message=summary, original_action=operation, raw=raw,
        attrs=attrs or None, line=line, origin=origin)


class AzureParser(JsonRecordsParser):
    name = NAME
    description = "Azure Activity Log and Entra ID sign-in/audit logs exported by diagnostic settings (JSON)"
    map_record = staticmethod(_record)
    wrappers = ("records",)

    def score(self, head: Head) -> tuple[float, str]:
        text = json_text(head)
        if text is None:
            return 0.0, ""
        if _RESOURCE_ID_RE.search(text) and _OPERATION_RE.search(text):
            if _CATEGORY_RE.search(text) and _TIME_RE.search(text):
                return 0.95, "JSON records with time, resourceId (/subscriptions or /tenants), operationName, category"
            return 0.6, "JSON records with an Azure resourceId and operationName"
        return 0.0, ""


parser = AzureParser()

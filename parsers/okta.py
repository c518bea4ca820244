"""Okta System Log events (the `LogEvent` of `GET /api/v1/logs`), JSON lines or a JSON array.

Shapes read: one LogEvent a line (log streaming, SIEM exports), a JSON array of LogEvents
(`/api/v1/logs` answers a page as an array; origin `[i]`, raw = the item's own text in the page),
also one array a line (concatenated pages: line and origin). A pretty-printed single object is
one event. A line that is not JSON, an item that is not an object, and an object without
`eventType` are kept as unparsed events.

Fields: actor = `actor.alternateId` (displayName, type and id in attrs); target = the
alternateId of the first target of type `User`; role = the group (`UserGroup` target) for
membership events, the application (`AppInstance` target) for application assignments,
`debugContext.debugData.privilegeGranted` for admin privileges; resource = the first other
target's displayName (policy, rule, app); src_ip = `client.ipAddress`; user_agent =
`client.userAgent.rawUserAgent`; session = `authenticationContext.externalSessionId`; app =
"okta"; host is left empty (the record does not name the org); ts = `published`; outcome from
`outcome.result`: SUCCESS/ALLOW -> success, FAILURE/DENY -> failure, others (CHALLENGE, SKIPPED,
UNKNOWN) -> unknown, with `outcome.reason` in attrs.

eventType -> category/action is in `EXACT` and `PREFIXES` below. Choices:
* `user.lifecycle.activate`/`reactivate`/`unsuspend` -> user_unlocked (enabled), `deactivate`/
  `suspend` -> user_locked (disabled).
* `application.user_membership.add`/`remove` -> role_granted/role_revoked: an app assignment
  is access granted to a principal; role = the application.
* `policy.lifecycle.*` and `policy.rule.*` -> policy_changed. `policy.evaluate_sign_on` is an
  evaluation during sign-in, not a change: system/log, with its ALLOW/DENY outcome kept.
* `system.api_token.create` -> password_changed (a credential was set), like CloudTrail's
  CreateAccessKey; MFA factor changes -> user_modified.
* everything else -> system/log with original_action = eventType.
"""

from __future__ import annotations

import re
from typing import Any

from auditctl.ingest.jsonrecords import JsonRecordsParser, as_dict, iso_time, json_text, text_or_none
from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head

NAME = "okta"
APP = "okta"
_AU, _UM, _PC, _POL, _PA, _SYS = (
    "authentication", "user_management", "permission_change", "policy_change",
    "privileged_action", "system")

# eventType -> (category, action)
EXACT: dict[str, tuple[str, str]] = {
    "user.session.start": (_AU, "login"),
    "user.session.end": (_AU, "logout"),
    "user.lifecycle.create": (_UM, "user_created"),
    "user.lifecycle.activate": (_UM, "user_unlocked"),
    "user.lifecycle.reactivate": (_UM, "user_unlocked"),
    "user.lifecycle.unsuspend": (_UM, "user_unlocked"),
    "user.lifecycle.deactivate": (_UM, "user_locked"),
    "user.lifecycle.suspend": (_UM, "user_locked"),
    "user.account.lock": (_UM, "user_locked"),
    "user.account.update_password": (_UM, "password_changed"),
    "user.account.reset_password": (_UM, "password_changed"),
    "user.account.update_profile": (_UM, "user_modified"),
    "user.mfa.factor.activate": (_UM, "user_modified"),
    "user.mfa.factor.deactivate": (_UM, "user_modified"),
    "user.mfa.factor.reset_all": (_UM, "user_modified"),
    "user.mfa.factor.update": (_UM, "user_modified"),
    "system.api_token.create": (_UM, "password_changed"),
    "system.api_token.revoke": (_UM, "user_modified"),
    "group.lifecycle.create": (_UM, "group_created"),
    "group.lifecycle.delete": (_UM, "group_deleted"),
    "group.user_membership.add": (_PC, "group_member_added"),
    "group.user_membership.remove": (_PC, "group_member_removed"),
    "user.account.privilege.grant": (_PC, "role_granted"),
    "user.account.privilege.revoke": (_PC, "role_revoked"),
    "group.privilege.grant": (_PC, "role_granted"),
    "group.privilege.revoke": (_PC, "role_revoked"),
    "application.user_membership.add": (_PC, "role_granted"),
    "application.user_membership.remove": (_PC, "role_revoked"),
    "policy.evaluate_sign_on": (_SYS, "log"),
}
# Checked in order when the eventType is not in EXACT.
PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("user.authentication.", _AU, "authenticate"),
    ("user.lifecycle.delete", _UM, "user_deleted"),
    ("user.account.unlock", _UM, "user_unlocked"),
    ("policy.lifecycle.", _POL, "policy_changed"),
    ("policy.rule.", _POL, "policy_changed"),
)
_OUTCOMES = {"SUCCESS": "success", "ALLOW": "success", "FAILURE": "failure", "DENY": "failure"}
# Okta writes "unknown" for an id, alternateId or session it does not know; elsewhere it writes
# JSON null, so any text (a group named "None" or "unknown") is a value.
_UNKNOWN = frozenset({"", "unknown"})
_MEMBERSHIP = frozenset({"group.user_membership.add", "group.user_membership.remove",
                         "group.lifecycle.create", "group.lifecycle.delete",
                         "group.privilege.grant", "group.privilege.revoke"})
_APP_ASSIGN = frozenset({"application.user_membership.add", "application.user_membership.remove"})
_PRIVILEGE = frozenset({"user.account.privilege.grant", "user.account.privilege.revoke",
                        "group.privilege.grant", "group.privilege.revoke"})

# --- detection ---------------------------------------------------------------------------------
_EVENT_TYPE_RE = re.compile(r'"eventType"\s*:\s*"[a-z_]+\.[a-z_.]+"')
_PUBLISHED_RE = re.compile(r'"published"\s*:\s*"\d{4}-\d\d-\d\d')
_ALT_ID_RE = re.compile(r'"alternateId"\s*:')
_OKTA_KEYS_RE = re.compile(r'"(?:displayMessage|legacyEventType|authenticationContext|debugContext)"\s*:')


# null is "no value"; any text ("-", "None") is a value
_s = text_or_none


def _id(value: Any) -> str | None:
    """An id, alternateId or session id: Okta's "unknown" is no value there."""
    return text_or_none(value, _UNKNOWN)


_d = as_dict


_time = iso_time


def _record(rec: dict[str, Any], raw: str, line: int | None, origin: str | None) -> Event:
    etype = _s(rec.get("eventType"))
    if etype is None:
        return unparsed_event(raw, "okta: record has no eventType (not an Okta LogEvent)",
                              line=line, origin=origin, app=APP)
    attrs: dict[str, Any] = {}
    uuid = _s(rec.get("uuid"))
    if uuid:
        attrs["event_id"] = uuid
    severity = _s(rec.get("severity"))
    if severity:
        attrs["severity"] = severity

    actor_obj = _d(rec.get("actor"))
    actor = _id(actor_obj.get("alternateId"))
    for key, attr in (("displayName", "actor_name"), ("type", "actor_type"), ("id", "actor_id")):
        # an unknown actor is {"id": "unknown", "displayName": "unknown", ...}
        value = _s(actor_obj.get(key)) if _id(actor_obj.get("id")) else _id(actor_obj.get(key))
        if value:
            attrs[attr] = value
    if actor is None:
        actor = attrs.get("actor_name")

    client = _d(rec.get("client"))
    src_ip = _s(client.get("ipAddress"))
    user_agent = _s(_d(client.get("userAgent")).get("rawUserAgent"))
    geo = _d(client.get("geographicalContext"))
    for key, attr in (("country", "country"), ("city", "city")):
        value = _s(geo.get(key))
        if value:
            attrs[attr] = value
    device = _s(client.get("device"))
    if device:
        attrs["device"] = device

    auth = _d(rec.get("authenticationContext"))
    session = _id(auth.get("externalSessionId"))
    for key, attr in (("credentialType", "credential_type"), ("authenticationProvider", "auth_provider")):
        value = _s(auth.get(key))
        if value:
            attrs[attr] = value
    transaction = _s(_d(rec.get("transaction")).get("id"))
    if transaction:
        attrs["transaction_id"] = transaction

    out = _d(rec.get("outcome"))
    result = _s(out.get("result"))
    outcome = _OUTCOMES.get(result.upper(), "unknown") if result else "unknown"
    if result:
        attrs["outcome_result"] = result
    reason = _s(out.get("reason"))
    if reason:
        attrs["outcome_reason"] = reason[:500]

    rule = EXACT.get(etype)
    if rule is None:
        for prefix, category, action in PREFIXES:
            if etype.startswith(prefix):
                rule = (category, action)
                break
    category, action = rule or (_SYS, "log")

    # targets: the account, the group/app/privilege, and any other object
    target = role = resource = None
    targets = rec.get("target")
    user_t = group_t = app_t = None
    others: list[dict[str, Any]] = []
    if isinstance(targets, list):
        for t in targets:
            if not isinstance(t, dict):
                continue
            kind = t.get("type")
            if kind == "User" and user_t is None:
                user_t = t
            elif kind == "UserGroup" and group_t is None:
                group_t = t
            elif kind == "AppInstance" and app_t is None:
                app_t = t
            elif kind != "AppUser":  # the person's account in an app: not another object
                others.append(t)
    if user_t is not None:
        target = _id(user_t.get("alternateId")) or _s(user_t.get("displayName"))
    if etype in _MEMBERSHIP and group_t is not None:
        role = _s(group_t.get("displayName"))
        group_t = None
    elif etype in _APP_ASSIGN and app_t is not None:
        role = _s(app_t.get("displayName"))
        app_t = None
    if etype in _PRIVILEGE:
        privilege = _s(_d(_d(rec.get("debugContext")).get("debugData")).get("privilegeGranted"))
        if privilege:
            role = privilege
    for t in (group_t, app_t, *others):
        if t is not None:
            resource = _s(t.get("displayName")) or _id(t.get("alternateId"))
            if resource:
                break

    display = _s(rec.get("displayMessage"))
    summary = f"{actor or 'unknown'}: {display or etype}"
    if target and target != actor:
        summary += f" {target}"
    if role:
        summary += f" {role}"
    elif resource and not target:
        summary += f" {resource}"
    if outcome == "failure":
        summary += f" failed ({reason or result})"

    return Event(
        ts=_time(rec.get("published")), category=category, action=action, outcome=outcome,
        app=APP, actor=actor, target=target, role=role, resource=resource, src_ip=src_ip,
        user_agent=user_agent, session=session, message=summary, original_action=etype, raw=raw,
        attrs=attrs or None, line=line, origin=origin)


class OktaParser(JsonRecordsParser):
    name = NAME
    description = "Okta System Log (LogEvent): JSON lines or a JSON array from /api/v1/logs"
    map_record = staticmethod(_record)

    def score(self, head: Head) -> tuple[float, str]:
        text = json_text(head)
        if text is None:
            return 0.0, ""
        if _EVENT_TYPE_RE.search(text) and _PUBLISHED_RE.search(text):
            if _ALT_ID_RE.search(text) and _OKTA_KEYS_RE.search(text):
                return 0.95, "JSON with Okta LogEvent keys (eventType, published, actor.alternateId)"
            return 0.6, "JSON with eventType and published keys (Okta-like)"
        return 0.0, ""


parser = OktaParser()

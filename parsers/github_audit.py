"""GitHub audit log events (organization / enterprise), JSON lines or a JSON array.

Shapes read: audit log streaming and the REST API (`GET /orgs/{org}/audit-log`,
`/enterprises/{enterprise}/audit-log`) give one JSON object per event with `action`, `actor`,
`@timestamp`/`created_at` in epoch milliseconds and `_document_id`; the "Export JSON" button and
API pages saved to a file are JSON arrays (origin `[i]`, raw = the item's own text in the page).
Older exports nest some fields under `data` (`data.team`); both are read. A line that is not
JSON, an item that is not an object and an object without `action` are kept as unparsed events.

Fields: actor = `actor`; target = `user` (the account acted on; `blocked_user` for blocks);
role = `team` for team membership, `permission` for repository collaborators, the organization
for organization membership; resource = `repo` (or `repository`); src_ip = `actor_ip` (only
present when the organization shows IP addresses); user_agent = `user_agent`; host = `org`, else
`business`; app = "github"; session = `request_id`, else `_document_id`; ts = `@timestamp`, else
`created_at`. The audit log records actions that happened, so outcome = success, except
`protected_branch.rejected_ref_update` and `user.failed_login` (failure) and SSO responses
(unknown).

`RULES` below maps actions; anything else is system/log with original_action = the action.
Choices:
* `org.add_member`/`org.remove_member` -> group_member_added/removed with role = the org.
* `org.update_member` (owner <-> member): permission `admin` -> role_granted "admin",
  old_permission `admin` -> role_revoked "admin"; another permission -> role_granted with it;
  neither field -> user_modified.
* `repo.add_member`/`update_member`/`remove_member` (collaborators) -> role_granted/revoked,
  role = `permission`, resource = the repository.
* `repo.access` is a visibility change (public/private), a policy: policy_changed; so are
  `protected_branch.*` (including `policy_override`, a rule bypassed by an admin) and
  `repository_ruleset.*`, and organization security settings (base permission, 2FA, SAML).
* credentials: `personal_access_token.create`, `public_key.create` -> password_changed
  ("credential set"); `public_key.delete` -> user_modified. Granting a token or OAuth app access
  (`personal_access_token.access_granted`, `oauth_authorization.create`) -> role_granted, and
  the revocations -> role_revoked.
* `git.clone`/`git.fetch`/`git.push` -> data_access/access; `protected_branch.rejected_ref_update`
  (a push refused by branch protection) -> data_access/access, failure.
"""

from __future__ import annotations

import re
from typing import Any

from auditctl.ingest.jsonrecords import JsonRecordsParser, as_dict, json_text, text_or_none
from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head
from auditctl.timeutil import from_epoch, parse_iso

NAME = "github_audit"
APP = "github"
_AU, _UM, _PC, _POL, _DA, _SYS = (
    "authentication", "user_management", "permission_change", "policy_change", "data_access",
    "system")
# where the role comes from: a field name, or a fixed word in quotes
_TEAM, _PERM, _ORG, _BUSINESS = "team", "permission", "org", "business"

# action -> (category, action, role source)
RULES: dict[str, tuple[str, str, str | None]] = {
    # sign-in (GitHub Enterprise Server)
    "user.login": (_AU, "login", None),
    "user.failed_login": (_AU, "login", None),
    "user.logout": (_AU, "logout", None),
    "org.sso_response": (_AU, "authenticate", None),
    "business.sso_response": (_AU, "authenticate", None),
    # membership
    "org.add_member": (_PC, "group_member_added", _ORG),
    "org.remove_member": (_PC, "group_member_removed", _ORG),
    "org.remove_outside_collaborator": (_PC, "group_member_removed", _ORG),
    "team.add_member": (_PC, "group_member_added", _TEAM),
    "team.remove_member": (_PC, "group_member_removed", _TEAM),
    "business.remove_member": (_PC, "group_member_removed", _BUSINESS),
    "team.create": (_UM, "group_created", _TEAM),
    "team.destroy": (_UM, "group_deleted", _TEAM),
    # roles and access grants
    "org.update_member": (_PC, "role_granted", None),  # direction decided from the permissions
    "repo.add_member": (_PC, "role_granted", _PERM),
    "repo.update_member": (_PC, "role_granted", _PERM),
    "repo.remove_member": (_PC, "role_revoked", _PERM),
    "business.add_admin": (_PC, "role_granted", "'enterprise owner'"),
    "business.remove_admin": (_PC, "role_revoked", "'enterprise owner'"),
    "business.add_billing_manager": (_PC, "role_granted", "'billing manager'"),
    "business.remove_billing_manager": (_PC, "role_revoked", "'billing manager'"),
    "personal_access_token.access_granted": (_PC, "role_granted", None),
    "personal_access_token.access_revoked": (_PC, "role_revoked", None),
    "oauth_authorization.create": (_PC, "role_granted", None),
    "oauth_authorization.destroy": (_PC, "role_revoked", None),
    # accounts and credentials
    "org.block_user": (_UM, "user_locked", None),
    "org.unblock_user": (_UM, "user_unlocked", None),
    "personal_access_token.create": (_UM, "password_changed", None),
    "public_key.create": (_UM, "password_changed", None),
    "public_key.delete": (_UM, "user_modified", None),
    # policies
    "repo.access": (_POL, "policy_changed", None),
    "org.update_default_repository_permission": (_POL, "policy_changed", None),
    "org.update_member_repository_creation_permission": (_POL, "policy_changed", None),
    "org.update_member_repository_invitation_permission": (_POL, "policy_changed", None),
    "org.enable_two_factor_requirement": (_POL, "policy_changed", None),
    "org.disable_two_factor_requirement": (_POL, "policy_changed", None),
    "org.enable_saml": (_POL, "policy_changed", None),
    "org.disable_saml": (_POL, "policy_changed", None),
    "org.update_saml_provider_settings": (_POL, "policy_changed", None),
    "org.enable_oauth_app_restrictions": (_POL, "policy_changed", None),
    "org.disable_oauth_app_restrictions": (_POL, "policy_changed", None),
    "audit_log_streaming.create": (_POL, "audit_config_changed", None),
    "audit_log_streaming.update": (_POL, "audit_config_changed", None),
    "audit_log_streaming.destroy": (_POL, "audit_config_changed", None),
    # data
    "git.clone": (_DA, "access", None),
    "git.fetch": (_DA, "access", None),
    "git.push": (_DA, "access", None),
    "protected_branch.rejected_ref_update": (_DA, "access", None),
}
PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("protected_branch.", _POL, "policy_changed"),
    ("repository_ruleset.", _POL, "policy_changed"),
)
_FAILURES = frozenset({"protected_branch.rejected_ref_update", "user.failed_login"})
_UNKNOWN_OUTCOME = frozenset({"org.sso_response", "business.sso_response"})
# kept in attrs when present: field -> attr
_ATTRS = (("_document_id", "document_id"), ("operation_type", "operation_type"),
          ("org", "org"), ("business", "business"), ("actor_id", "actor_id"),
          ("actor_is_bot", "actor_is_bot"), ("user_id", "user_id"),
          ("programmatic_access_type", "programmatic_access_type"), ("token_id", "token_id"),
          ("token_scopes", "token_scopes"), ("external_identity_nameid", "external_identity_nameid"),
          ("permission", "permission"), ("old_permission", "old_permission"),
          ("visibility", "visibility"), ("previous_visibility", "previous_visibility"),
          ("transport_protocol_name", "transport_protocol"), ("repository_selection", "repository_selection"))

# --- detection ---------------------------------------------------------------------------------
_ACTION_RE = re.compile(r'"action"\s*:\s*"[a-z0-9_]+\.[a-z0-9_.]+"')
_ACTOR_RE = re.compile(r'"actor"\s*:\s*"')
_TIME_RE = re.compile(r'"(?:@timestamp|created_at)"\s*:\s*(?:\d{10,13}\b|"\d{4}-\d\d-\d\d)')
_GH_RE = re.compile(r'"(?:_document_id|actor_location|actor_ip|org_id|business_id|org|business|'
                    r'programmatic_access_type|operation_type)"\s*:')


# null is "no value"; any text ("-", "None") is a value
_s = text_or_none


def _time(value: Any):
    """Epoch milliseconds (number or digits), or an ISO 8601 / 'YYYY-MM-DD HH:MM:SS' string."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | float):
            return from_epoch(value)
        text = str(value).strip()
        if text.isdigit():
            return from_epoch(text)
        return parse_iso(text.replace(" ", "T", 1)) if text else None
    except (ValueError, OverflowError, OSError):
        return None


def _record(rec: dict[str, Any], raw: str, line: int | None, origin: str | None) -> Event:
    name = _s(rec.get("action"))
    if name is None:
        return unparsed_event(raw, "github_audit: record has no action (not a GitHub audit event)",
                              line=line, origin=origin, app=APP)
    data = as_dict(rec.get("data"))
    attrs: dict[str, Any] = {}
    for key, attr in _ATTRS:
        value = rec.get(key)
        if value is not None and value != "" and not isinstance(value, dict | list):
            attrs[attr] = value
    country = rec.get("actor_location")
    if isinstance(country, dict) and _s(country.get("country_code")):
        attrs["country"] = country["country_code"]

    rule = RULES.get(name)
    if rule is None:
        for prefix, category, action in PREFIXES:
            if name.startswith(prefix):
                rule = (category, action, None)
                break
    category, action, role_from = rule or (_SYS, "log", None)

    actor = _s(rec.get("actor"))
    target = _s(rec.get("user")) or _s(rec.get("blocked_user"))
    team = _s(rec.get("team")) or _s(data.get("team"))
    org = _s(rec.get("org"))
    business = _s(rec.get("business"))
    resource = _s(rec.get("repo")) or _s(rec.get("repository"))
    role = None
    if role_from == _TEAM:
        role = team
    elif role_from == _PERM:
        role = _s(rec.get("permission"))
    elif role_from == _ORG:
        role = org or business
    elif role_from == _BUSINESS:
        role = business
    elif role_from is not None:
        role = role_from.strip("'")
    if name == "org.update_member":
        permission, old = _s(rec.get("permission")), _s(rec.get("old_permission"))
        if permission == "admin" or (permission and old != "admin"):
            action, role = "role_granted", permission
        elif old == "admin":
            action, role = "role_revoked", old
        else:
            category, action = _UM, "user_modified"
    if resource is None and team and role != team:
        resource = team
    if name.startswith("protected_branch.") and _s(rec.get("name")):
        attrs["branch"] = rec["name"]

    outcome = "success"
    if name in _FAILURES:
        outcome = "failure"
    elif name in _UNKNOWN_OUTCOME:
        outcome = "unknown"

    stamp = rec.get("@timestamp")
    ts = _time(stamp) if stamp is not None else _time(rec.get("created_at"))

    summary = f"{actor or 'unknown'}: {name}"
    if target:
        summary += f" {target}"
    if role:
        summary += f" {role}"
    if resource:
        summary += f" {resource}"
    if outcome == "failure":
        summary += " failed"

    return Event(
        ts=ts, category=category, action=action, outcome=outcome, host=org or business, app=APP,
        actor=actor, target=target, role=role, resource=resource, src_ip=_s(rec.get("actor_ip")),
        user_agent=_s(rec.get("user_agent")),
        session=_s(rec.get("request_id")) or _s(rec.get("_document_id")), message=summary,
        original_action=name, raw=raw, attrs=attrs or None, line=line, origin=origin)


class GitHubAuditParser(JsonRecordsParser):
    name = NAME
    description = "GitHub organization/enterprise audit log: streaming JSON lines or API/export JSON arrays"
    map_record = staticmethod(_record)

    def score(self, head: Head) -> tuple[float, str]:
        text = json_text(head)
        if text is None:
            return 0.0, ""
        if _ACTION_RE.search(text) and _ACTOR_RE.search(text) and _TIME_RE.search(text):
            if _GH_RE.search(text):
                return 0.95, "JSON with GitHub audit keys (action category.operation, actor, created_at/@timestamp, org)"
            return 0.5, "JSON with action/actor/created_at keys (GitHub-like)"
        return 0.0, ""


parser = GitHubAuditParser()

"""AWS CloudTrail records, as delivered to S3 and as one record a line.

Two shapes are read:

* the delivered log file, `{"Records": [ {...}, ... ]}` (usually `.json.gz`, one line): parsed
  as one document, one event per record, `origin = "Records[i]"`, `line` None, `raw` = the
  record's own text in the file. Several such documents concatenated one a line (`zcat
  *.json.gz > all.json`) are read line by line: `line` = the document's line, origin per record.
* one record a line (CloudWatch Logs / Lake exports, `jq -c '.Records[]'`), also an EventBridge
  event wrapping a record in `detail`: `line` = line number, `raw` = the line.
A pretty-printed document, or a JSON array of records (origin `[i]`), is read whole too. A
document that does not parse is read line by line, so every line is kept (mostly unparsed).
Insights events (`AwsCloudTrailInsight`: an unusual call rate, not a call) -> system/log.

Field choices: actor from `userIdentity` (IAMUser -> userName; AssumedRole -> the issuing
role's name, session name in attrs; Root -> "root"; AWSService -> invokedBy; FederatedUser ->
the federated name; SAML/WebIdentity -> userName; IdentityCenterUser -> onBehalfOf.userId;
AWSAccount -> the account id). `host` = recipientAccountId (the account the trail belongs to;
region in attrs). `app` = eventSource. `session` = requestID, else eventID (eventID always in
attrs). `src_ip` = sourceIPAddress only when it is an IP; service names such as
`iam.amazonaws.com` or `AWS Internal` go to attrs.source_name. `errorCode` => failure; a
ConsoleLogin/CheckMfa/SwitchRole answer of "Failure" => failure; otherwise success.
The event-name table is in `RULES`; names not in it: read-only calls (`readOnly`, else a
Get/List/Describe/Head/... prefix) -> data_access/access, other calls -> system/log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from auditctl.ingest.addresses import is_ip
from auditctl.ingest.jsonrecords import as_dict, iso_time, json_lines, line_records, read_document, split_lines
from auditctl.plugins import Parser
from auditctl.schema import Event, unparsed_event
from auditctl.sources import Head, Source

# --- event-name table -------------------------------------------------------------------------
# eventName -> (category, action, target keys, role keys, resource keys); keys name fields of
# requestParameters, the first non-empty one wins.
_Rule = tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]
_UM, _PC, _POL, _PA, _DA, _AU = (
    "user_management", "permission_change", "policy_change", "privileged_action", "data_access",
    "authentication")
_USER, _ROLE, _GROUP = ("userName",), ("roleName",), ("groupName",)
_NONE: tuple[str, ...] = ()

RULES: dict[str, _Rule] = {
    # sign-in and session credentials
    "ConsoleLogin": (_AU, "login", _NONE, _NONE, _NONE),
    "CheckMfa": (_AU, "authenticate", _NONE, _NONE, _NONE),
    "GetSessionToken": (_AU, "authenticate", _NONE, _NONE, _NONE),
    "GetFederationToken": (_AU, "authenticate", ("name",), _NONE, _NONE),
    # accounts
    "CreateUser": (_UM, "user_created", _USER, _NONE, _NONE),
    "DeleteUser": (_UM, "user_deleted", _USER, _NONE, _NONE),
    "UpdateUser": (_UM, "user_modified", _USER, _NONE, _NONE),
    "CreateRole": (_UM, "user_created", _ROLE, _NONE, _NONE),
    "DeleteRole": (_UM, "user_deleted", _ROLE, _NONE, _NONE),
    # credentials: a password or access key that is set counts as password_changed ("a password
    # or credential was set, changed or reset"); one removed or switched off is user_modified.
    "CreateLoginProfile": (_UM, "password_changed", _USER, _NONE, _NONE),
    "UpdateLoginProfile": (_UM, "password_changed", _USER, _NONE, _NONE),
    "ChangePassword": (_UM, "password_changed", _USER, _NONE, _NONE),
    "CreateAccessKey": (_UM, "password_changed", _USER, _NONE, _NONE),
    "DeleteLoginProfile": (_UM, "user_modified", _USER, _NONE, _NONE),
    "DeleteAccessKey": (_UM, "user_modified", _USER, _NONE, ("accessKeyId",)),
    "UpdateAccessKey": (_UM, "user_modified", _USER, _NONE, ("accessKeyId",)),
    "EnableMFADevice": (_UM, "user_modified", _USER, _NONE, ("serialNumber",)),
    "DeactivateMFADevice": (_UM, "user_modified", _USER, _NONE, ("serialNumber",)),
    # groups
    "CreateGroup": (_UM, "group_created", _NONE, _GROUP, _NONE),
    "DeleteGroup": (_UM, "group_deleted", _NONE, _GROUP, _NONE),
    "UpdateGroup": (_UM, "group_modified", _NONE, _GROUP, _NONE),
    "AddUserToGroup": (_PC, "group_member_added", _USER, _GROUP, _NONE),
    "RemoveUserFromGroup": (_PC, "group_member_removed", _USER, _GROUP, _NONE),
    # policies granted to / taken from a principal
    "AttachUserPolicy": (_PC, "role_granted", _USER, ("policyArn",), _NONE),
    "AttachRolePolicy": (_PC, "role_granted", _ROLE, ("policyArn",), _NONE),
    "AttachGroupPolicy": (_PC, "role_granted", _GROUP, ("policyArn",), _NONE),
    "PutUserPolicy": (_PC, "role_granted", _USER, ("policyName",), _NONE),
    "PutRolePolicy": (_PC, "role_granted", _ROLE, ("policyName",), _NONE),
    "PutGroupPolicy": (_PC, "role_granted", _GROUP, ("policyName",), _NONE),
    "DetachUserPolicy": (_PC, "role_revoked", _USER, ("policyArn",), _NONE),
    "DetachRolePolicy": (_PC, "role_revoked", _ROLE, ("policyArn",), _NONE),
    "DetachGroupPolicy": (_PC, "role_revoked", _GROUP, ("policyArn",), _NONE),
    "DeleteUserPolicy": (_PC, "role_revoked", _USER, ("policyName",), _NONE),
    "DeleteRolePolicy": (_PC, "role_revoked", _ROLE, ("policyName",), _NONE),
    "DeleteGroupPolicy": (_PC, "role_revoked", _GROUP, ("policyName",), _NONE),
    # policy documents themselves
    "CreatePolicy": (_POL, "policy_changed", _NONE, _NONE, ("policyName",)),
    "CreatePolicyVersion": (_POL, "policy_changed", _NONE, _NONE, ("policyArn",)),
    "SetDefaultPolicyVersion": (_POL, "policy_changed", _NONE, _NONE, ("policyArn",)),
    "DeletePolicy": (_POL, "policy_changed", _NONE, _NONE, ("policyArn",)),
    "DeletePolicyVersion": (_POL, "policy_changed", _NONE, _NONE, ("policyArn",)),
    "UpdateAssumeRolePolicy": (_POL, "policy_changed", _ROLE, _NONE, _NONE),
    "UpdateAccountPasswordPolicy": (_POL, "policy_changed", _NONE, _NONE, _NONE),
    "DeleteAccountPasswordPolicy": (_POL, "policy_changed", _NONE, _NONE, _NONE),
    "PutBucketPolicy": (_POL, "policy_changed", _NONE, _NONE, ("bucketName",)),
    "DeleteBucketPolicy": (_POL, "policy_changed", _NONE, _NONE, ("bucketName",)),
    "PutBucketAcl": (_POL, "policy_changed", _NONE, _NONE, ("bucketName",)),
    # network firewall rules (security groups) are a security policy
    "AuthorizeSecurityGroupIngress": (_POL, "policy_changed", _NONE, _NONE, ("groupId",)),
    "AuthorizeSecurityGroupEgress": (_POL, "policy_changed", _NONE, _NONE, ("groupId",)),
    "RevokeSecurityGroupIngress": (_POL, "policy_changed", _NONE, _NONE, ("groupId",)),
    "RevokeSecurityGroupEgress": (_POL, "policy_changed", _NONE, _NONE, ("groupId",)),
    # switching identity
    "AssumeRole": (_PA, "privilege_escalation", _NONE, ("roleArn",), _NONE),
    "AssumeRoleWithSAML": (_PA, "privilege_escalation", _NONE, ("roleArn",), _NONE),
    "AssumeRoleWithWebIdentity": (_PA, "privilege_escalation", _NONE, ("roleArn",), _NONE),
    # audit trail and detective controls
    "StopLogging": (_POL, "audit_config_changed", _NONE, _NONE, ("name",)),
    "StartLogging": (_POL, "audit_config_changed", _NONE, _NONE, ("name",)),
    "CreateTrail": (_POL, "audit_config_changed", _NONE, _NONE, ("name",)),
    "UpdateTrail": (_POL, "audit_config_changed", _NONE, _NONE, ("name",)),
    "PutEventSelectors": (_POL, "audit_config_changed", _NONE, _NONE, ("trailName",)),
    "PutInsightSelectors": (_POL, "audit_config_changed", _NONE, _NONE, ("trailName",)),
    "DeleteTrail": (_POL, "log_cleared", _NONE, _NONE, ("name",)),
    "StopConfigurationRecorder": (_POL, "audit_config_changed", _NONE, _NONE,
                                  ("configurationRecorderName",)),
    "DeleteConfigurationRecorder": (_POL, "audit_config_changed", _NONE, _NONE,
                                    ("configurationRecorderName",)),
    "DeleteDetector": (_POL, "audit_config_changed", _NONE, _NONE, ("detectorId",)),
    "DeleteFlowLogs": (_POL, "audit_config_changed", _NONE, _NONE, _NONE),
    "DeleteLogGroup": (_POL, "log_cleared", _NONE, _NONE, ("logGroupName",)),
    "DeleteLogStream": (_POL, "log_cleared", _NONE, _NONE, ("logStreamName",)),
    # protected data
    "GetSecretValue": (_DA, "access", _NONE, _NONE, ("secretId",)),
    "GetObject": (_DA, "access", _NONE, _NONE, _NONE),
    "PutObject": (_DA, "access", _NONE, _NONE, _NONE),
    "DeleteObject": (_DA, "access", _NONE, _NONE, _NONE),
}

# Credential calls on oneself: with no userName parameter IAM acts on the caller.
_SELF_SERVICE = frozenset({
    "ChangePassword", "CreateAccessKey", "DeleteAccessKey", "UpdateAccessKey",
    "CreateLoginProfile", "UpdateLoginProfile", "EnableMFADevice", "DeactivateMFADevice"})
# Sign-in events answer Success/Failure in responseElements[eventName].
_SIGNIN_ANSWER = frozenset({"ConsoleLogin", "CheckMfa", "SwitchRole", "ExitRole"})
_READ_PREFIXES = ("Get", "List", "Describe", "Head", "BatchGet", "Lookup", "Search", "Scan",
                  "Query", "Select")
_HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"

# --- detection -----------------------------------------------------------------------------
_DOC_RE = re.compile(r'^\s*\{\s*"Records"\s*:\s*\[')
_SOURCE_RE = re.compile(r'"eventSource"\s*:\s*"[a-z0-9.-]+\.amazonaws\.com"')
_NAME_RE = re.compile(r'"eventName"\s*:\s*"')
_VERSION_RE = re.compile(r'"eventVersion"\s*:\s*"1\.')
_FILE_RE = re.compile(r"^\d{12}_CloudTrail_[a-z0-9-]+_\d{8}T\d{4}Z_\w+\.json", re.I)
_DOC_START = re.compile(rb'^\s*(?:\{\s*"Records"\s*:|\{\s*\r?\n|\[)')


def _s(value: Any) -> str | None:
    """A non-blank string, else None. CloudTrail writes null for "no value": any text, "-" or
    "None" too, is a value."""
    if value is None:
        return None
    if isinstance(value, (list, dict)):
        value = orjson.dumps(value).decode()  # as the record writes it, not Python's repr
    elif not isinstance(value, str):
        value = str(value)
    return None if not value.strip() else value



def _first(params: dict, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = _s(params.get(key))
        if value:
            return value
    return None


def _identity(ui: Any, attrs: dict[str, Any]) -> str | None:
    """The actor's name from userIdentity; details go to attrs."""
    if not isinstance(ui, dict):
        return None
    kind = ui.get("type")
    if kind:
        attrs["identity_type"] = kind
    account = _s(ui.get("accountId"))
    if account:
        attrs["account_id"] = account
    arn = _s(ui.get("arn"))
    if arn:
        attrs["arn"] = arn
    key = _s(ui.get("accessKeyId"))
    if key:
        attrs["access_key_id"] = key
    ctx = ui.get("sessionContext")
    if not isinstance(ctx, dict):
        ctx = {}
    session_attrs = ctx.get("attributes")
    mfa = session_attrs.get("mfaAuthenticated") if isinstance(session_attrs, dict) else None
    if mfa is not None:
        attrs["mfa_authenticated"] = mfa is True or str(mfa).lower() == "true"
    invoked_by = _s(ui.get("invokedBy"))
    if invoked_by and kind != "AWSService":
        attrs["invoked_by"] = invoked_by
    name = _s(ui.get("userName"))
    if name == _HIDDEN:
        attrs["user_name_hidden"] = True
        name = None
    issuer = as_dict(ctx.get("sessionIssuer"))

    if kind == "IAMUser":
        return name or (arn.rsplit("/", 1)[-1] if arn and ":user/" in arn else None)
    if kind == "AssumedRole":
        role_name = _s(issuer.get("userName"))
        if arn and ":assumed-role/" in arn:
            parts = arn.split(":assumed-role/", 1)[1].split("/")
            if len(parts) >= 2:
                attrs["session_name"] = parts[-1]
            role_name = role_name or parts[0]
        return role_name
    if kind == "Root":
        if name:
            attrs["account_alias"] = name
        return "root"
    if kind == "AWSService":
        return invoked_by
    if kind == "FederatedUser":
        if _s(issuer.get("userName")):
            attrs["session_issuer"] = issuer["userName"]
        if arn and ":federated-user/" in arn:
            return arn.rsplit("/", 1)[-1]
        principal = _s(ui.get("principalId"))
        return principal.split(":", 1)[-1] if principal else name
    if kind in ("SAMLUser", "WebIdentityUser"):
        provider = _s(ui.get("identityProvider"))
        if provider:
            attrs["identity_provider"] = provider
        return name
    if kind == "IdentityCenterUser":
        on_behalf = as_dict(ui.get("onBehalfOf"))
        store = _s(on_behalf.get("identityStoreArn"))
        if store:
            attrs["identity_store_arn"] = store
        return _s(on_behalf.get("userId")) or name
    if kind == "AWSAccount":
        return account or _s(ui.get("principalId"))
    return name or arn or _s(ui.get("principalId")) or invoked_by


_time = iso_time


def _record_event(rec: dict[str, Any], raw: str, line: int | None, origin: str | None) -> Event:
    """One CloudTrail record to an Event; a record of an unexpected shape becomes unparsed."""
    try:
        return _map_record(rec, raw, line, origin)
    except Exception as exc:  # a field of an unexpected type: keep the record, say why
        return unparsed_event(raw, f"cloudtrail: cannot map record: {type(exc).__name__}: {exc}",
                              line=line, origin=origin)


def _map_record(rec: dict[str, Any], raw: str, line: int | None, origin: str | None) -> Event:
    if "eventName" not in rec and isinstance(rec.get("detail"), dict) \
            and "eventName" in rec["detail"]:
        rec = rec["detail"]  # EventBridge "AWS API Call via CloudTrail" wrapper
    name = _s(rec.get("eventName"))
    insight = rec.get("insightDetails")
    if isinstance(insight, dict) or rec.get("eventType") == "AwsCloudTrailInsight":
        return _insight_event(rec, insight if isinstance(insight, dict) else {}, raw, line, origin)
    if not name:
        return unparsed_event(raw, "cloudtrail: record without eventName", line=line,
                              origin=origin, ts=_time(rec.get("eventTime")))
    attrs: dict[str, Any] = {}
    actor = _identity(rec.get("userIdentity"), attrs)
    params = rec.get("requestParameters")
    if not isinstance(params, dict):
        params = {}
    response = rec.get("responseElements")
    if not isinstance(response, dict):
        response = {}
    extra = rec.get("additionalEventData")
    if not isinstance(extra, dict):
        extra = {}
    event_type = _s(rec.get("eventType"))
    if event_type:
        attrs["event_type"] = event_type
    region = _s(rec.get("awsRegion"))
    if region:
        attrs["region"] = region
    event_id = _s(rec.get("eventID"))
    if event_id:
        attrs["event_id"] = event_id

    target = role = resource = None
    rule = RULES.get(name)
    if rule is not None:
        category, action, target_keys, role_keys, resource_keys = rule
        target = _first(params, target_keys) if target_keys else None
        role = _first(params, role_keys) if role_keys else None
        resource = _first(params, resource_keys) if resource_keys else None
        if target is None and name in _SELF_SERVICE:
            for element in ("accessKey", "loginProfile"):
                if isinstance(response.get(element), dict):
                    target = _s(response[element].get("userName"))
            if target is None and attrs.get("identity_type") == "IAMUser":
                target = actor  # IAM acts on the caller when userName is omitted
        if name == "UpdateUser" and _s(params.get("newUserName")):
            attrs["new_user_name"] = params["newUserName"]
        if name.startswith("AssumeRole"):
            session_name = _s(params.get("roleSessionName"))
            if session_name:
                attrs["role_session_name"] = session_name
        if name == "ConsoleLogin" and "MFAUsed" in extra:
            mfa = extra["MFAUsed"]
            attrs["mfa"] = {"Yes": True, "No": False}.get(mfa, mfa)
    else:
        read_only = rec.get("readOnly")
        if isinstance(read_only, str):
            read_only = read_only.lower() == "true"
        if read_only is None:
            read_only = name.startswith(_READ_PREFIXES)
        category, action = ("data_access", "access") if read_only else ("system", "log")
    if resource is None and (rule is None or category == "data_access"):
        resource = _resource(rec, params)

    error_code = _s(rec.get("errorCode"))
    error_message = _s(rec.get("errorMessage"))
    if error_code:
        attrs["error_code"] = error_code
    if error_message:
        attrs["error_message"] = error_message[:500]
    outcome = "failure" if error_code else "success"
    if name in _SIGNIN_ANSWER:
        answer = response.get(name)
        if answer == "Failure":
            outcome = "failure"
        elif answer == "Success" and not error_code:
            outcome = "success"

    source_ip = _s(rec.get("sourceIPAddress"))
    src_ip = None
    if source_ip:
        if is_ip(source_ip):
            src_ip = source_ip
        else:
            attrs["source_name"] = source_ip

    summary = f"{actor or 'unknown'}: {name}"
    if target:
        summary += f" {target}"
    if role:
        summary += f" {role}"
    if resource and not target and not role:
        summary += f" {resource}"
    if outcome == "failure":
        summary += f" failed ({error_code or error_message or 'Failure'})"

    return Event(
        ts=_time(rec.get("eventTime")), category=category, action=action, outcome=outcome,
        host=_s(rec.get("recipientAccountId")), app=_s(rec.get("eventSource")), actor=actor,
        target=target, role=role, resource=resource, src_ip=src_ip,
        user_agent=_s(rec.get("userAgent")), session=_s(rec.get("requestID")) or event_id,
        message=summary, original_action=name, raw=raw, attrs=attrs or None, line=line,
        origin=origin)


def _insight_event(rec: dict[str, Any], details: dict[str, Any], raw: str, line: int | None,
                   origin: str | None) -> Event:
    """An Insights event: unusual call or error rate of an API. It is not the call itself."""
    attrs: dict[str, Any] = {"event_type": "AwsCloudTrailInsight"}
    for key, attr in (("state", "insight_state"), ("insightType", "insight_type")):
        if _s(details.get(key)):
            attrs[attr] = details[key]
    for key, attr in (("awsRegion", "region"), ("eventID", "event_id"),
                      ("sharedEventID", "shared_event_id")):
        if _s(rec.get(key)):
            attrs[attr] = rec[key]
    name = _s(details.get("eventName"))
    return Event(
        ts=_time(rec.get("eventTime")), category="system", action="log", outcome="unknown",
        host=_s(rec.get("recipientAccountId")), app=_s(details.get("eventSource")),
        session=_s(rec.get("eventID")), original_action=name, raw=raw, attrs=attrs, line=line,
        origin=origin, message=f"CloudTrail Insights: {details.get('insightType') or 'insight'} "
        f"{details.get('state') or ''} for {name or 'an API'}".replace("  ", " "))


def _resource(rec: dict[str, Any], params: dict[str, Any]) -> str | None:
    """The object acted on, for calls without a table entry: first resources[].ARN, or S3."""
    resources = rec.get("resources")
    if isinstance(resources, list):
        for item in resources:
            arn = _s(item.get("ARN")) if isinstance(item, dict) else None
            if arn:
                return arn  # as text: a non-string ARN made the whole file fail in Arrow
    bucket = _s(params.get("bucketName"))
    if bucket:
        key = _s(params.get("key"))
        return f"{bucket}/{key}" if key else bucket
    return None


class CloudTrailParser(Parser):
    name = "cloudtrail"
    description = "AWS CloudTrail: delivered {\"Records\": [...]} files (.json.gz) or JSON lines"
    # A delivered file is one JSON document; only the one-record-a-line shape is split (`splits`).
    splittable = False

    def score(self, head: Head) -> tuple[float, str]:
        text = head.text  # at most 64 KiB: a delivered document is usually cut
        if not text.lstrip().startswith(("{", "[")):
            return 0.0, ""
        has_source = _SOURCE_RE.search(text) is not None
        has_name = _NAME_RE.search(text) is not None
        if _DOC_RE.match(text):
            if has_source and has_name:
                return 0.95, 'a {"Records": [...]} document with eventSource/eventName keys'
            if _FILE_RE.match(head.name):
                return 0.9, "a {\"Records\": [...]} document with a CloudTrail file name"
            return 0.2, ""  # e.g. S3/SNS event notifications also use "Records"
        first = text.lstrip().split("\n", 1)[0]
        if _VERSION_RE.search(first) and _SOURCE_RE.search(first) and _NAME_RE.search(first):
            return 0.95, "JSON lines with eventVersion/eventSource/eventName keys"
        if has_source and has_name and _VERSION_RE.search(text):
            return 0.7, "JSON with CloudTrail eventVersion/eventSource/eventName keys"
        return 0.0, ""

    def splits(self, head: Head) -> bool:
        """One record a line may be parsed in parallel byte ranges; a document may not."""
        return not _DOC_START.match(head.data[:4096])

    def parse(self, source: Source) -> Iterator[Event]:
        start = source.peek(4096)
        if start is None:  # cannot look ahead without consuming: read it all
            data = source.read_all()
            if _DOC_START.match(data[:4096]):
                yield from self._document(data, source.start_line)
            else:
                yield from self._lines(split_lines(data, source.start_line))
        elif source.start_offset == 0 and _DOC_START.match(start):
            yield from self._document(source.read_all(), source.start_line)
        else:
            yield from self._lines(source.lines())

    def _document(self, data: bytes, start_line: int) -> Iterator[Event]:
        try:
            doc = read_document(data, ("Records",))
        except ValueError:
            # Not one document: concatenated documents, one a line, or a broken file. Every
            # line is kept (as events or unparsed).
            yield from self._lines(split_lines(data, start_line))
            return
        if doc.records is None:
            records, prefix = [(doc.value, doc.text)], None
        else:
            records, prefix = doc.records, doc.prefix
        for i, (rec, raw) in enumerate(records):
            if prefix is None:
                origin, line = None, start_line
            else:
                origin, line = f"{prefix}[{i}]", None
            if not isinstance(rec, dict):
                yield unparsed_event(raw, "cloudtrail: record is not a JSON object",
                                     origin=origin, line=line)
                continue
            yield _record_event(rec, raw, line, origin)

    def _lines(self, lines: Iterable[tuple[int, str]]) -> Iterator[Event]:
        return json_lines(lines, "cloudtrail", _line_events)


def _line_events(obj: Any, text: str, number: int) -> Iterator[Event]:
    """The events of one JSON line: a record, or a document of Records on one line."""
    if not isinstance(obj, dict):
        yield unparsed_event(text, "cloudtrail: line is not a JSON object", line=number)
    elif isinstance(obj.get("Records"), list):
        _, records = line_records(text, obj, ("Records",))
        for i, (rec, raw) in enumerate(records):
            if isinstance(rec, dict):
                yield _record_event(rec, raw, number, f"Records[{i}]")
            else:
                yield unparsed_event(raw, "cloudtrail: record is not a JSON object",
                                     line=number, origin=f"Records[{i}]")
    else:
        yield _record_event(obj, text, number, None)


parser = CloudTrailParser()

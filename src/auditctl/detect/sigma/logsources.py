"""Sigma logsources: which of our events each one means, as pySigma processing pipelines.

Every supported logsource (product / service / category) names a field *family* (how its
fields are found, see `fields`), the conditions that pick its events out of the store (the
parser that reads it, and for Windows the channel and event ids, as Sigma's own Windows
pipelines do), and field renames where our source writes a field under another name (Security
4688 `NewProcessName` for Sysmon's `Image`). A logsource not in this table is not collected by
any parser here: its rules are skipped with that reason, never silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import AddConditionTransformation, FieldMappingTransformation
from sigma.rule import SigmaLogSource

WINDOWS = "windows_security"  # the parser of EVTX, exported XML and JSON of every channel
SYSLOG = ["syslog", "journald", "journal_file"]  # journal_file: binary journals, mapped as journald

SYSMON = "Microsoft-Windows-Sysmon/Operational"
PS = "Microsoft-Windows-PowerShell/Operational"
PS_CLASSIC = "Windows PowerShell"

# Windows services: the event log channel each one reads.
WINDOWS_CHANNELS: dict[str, list[str]] = {
    "security": ["Security"],
    "system": ["System"],
    "application": ["Application"],
    "sysmon": [SYSMON],
    "powershell": [PS],
    "powershell-classic": [PS_CLASSIC],
    "taskscheduler": ["Microsoft-Windows-TaskScheduler/Operational"],
    "windefend": ["Microsoft-Windows-Windows Defender/Operational"],
    "wmi": ["Microsoft-Windows-WMI-Activity/Operational"],
    "dns-server": ["DNS Server"],
    "dns-server-analytic": ["Microsoft-Windows-DNS-Server/Analytical"],
    "dns-client": ["Microsoft-Windows-DNS Client Events/Operational"],
    "driver-framework": ["Microsoft-Windows-DriverFrameworks-UserMode/Operational"],
    "firewall-as": ["Microsoft-Windows-Windows Firewall With Advanced Security/Firewall"],
    "bits-client": ["Microsoft-Windows-Bits-Client/Operational"],
    "codeintegrity-operational": ["Microsoft-Windows-CodeIntegrity/Operational"],
    "terminalservices-localsessionmanager": ["Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"],
    "printservice-admin": ["Microsoft-Windows-PrintService/Admin"],
    "printservice-operational": ["Microsoft-Windows-PrintService/Operational"],
    "msexchange-management": ["MSExchange Management"],
    "security-mitigations": ["Microsoft-Windows-Security-Mitigations/Kernel Mode",
                             "Microsoft-Windows-Security-Mitigations/User Mode"],
    "appxdeployment-server": ["Microsoft-Windows-AppXDeploymentServer/Operational"],
    "appxpackaging-om": ["Microsoft-Windows-AppxPackaging/Operational"],
    "appmodel-runtime": ["Microsoft-Windows-AppModel-Runtime/Admin"],
    "ntlm": ["Microsoft-Windows-NTLM/Operational"],
    "openssh": ["OpenSSH/Operational"],
    "diagnosis-scripted": ["Microsoft-Windows-Diagnosis-Scripted/Operational"],
    "shell-core": ["Microsoft-Windows-Shell-Core/Operational"],
    "smbclient-security": ["Microsoft-Windows-SmbClient/Security"],
    "smbclient-connectivity": ["Microsoft-Windows-SmbClient/Connectivity"],
    "lsa-server": ["Microsoft-Windows-LSA/Operational"],
    "capi2": ["Microsoft-Windows-CAPI2/Operational"],
    "certificateservicesclient-lifecycle-system": ["Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational"],
    "ldap_debug": ["Microsoft-Windows-LDAP-Client/Debug"],
    "microsoft-servicebus-client": ["Microsoft-ServiceBus-Client"],
    "iis-configuration": ["Microsoft-IIS-Configuration/Operational"],
    "applocker": ["Microsoft-Windows-AppLocker/MSI and Script", "Microsoft-Windows-AppLocker/EXE and DLL",
                  "Microsoft-Windows-AppLocker/Packaged app-Deployment",
                  "Microsoft-Windows-AppLocker/Packaged app-Execution"],
    "vhdmp": ["Microsoft-Windows-VHDMP-Operational"],
    "hyper-v-worker": ["Microsoft-Windows-Hyper-V-Worker"],
    "kernel-shimengine": ["Microsoft-Windows-Kernel-ShimEngine/Operational"],
    "ntfs": ["Microsoft-Windows-Ntfs/Operational"],
    "sense": ["Microsoft-Windows-SENSE/Operational"],
}

# Channels whose fields have spaces in their names (Defender's `Threat Name`), which Sigma
# rules write without.
SPACED_SERVICES = frozenset({"windefend"})

# Windows categories: (channel, event ids) they are logged as. Sysmon's ids, and the Security
# log's own events where Windows writes the same thing (4688 process creation).
_SYSMON_CATEGORIES: dict[str, list[int]] = {
    "process_creation": [1], "file_change": [2], "network_connection": [3], "sysmon_status": [4, 16],
    "process_termination": [5], "driver_load": [6], "image_load": [7], "create_remote_thread": [8],
    "raw_access_thread": [9], "process_access": [10], "file_event": [11], "registry_add": [12],
    "registry_delete": [12], "registry_set": [13], "registry_rename": [14], "registry_event": [12, 13, 14],
    "create_stream_hash": [15], "pipe_created": [17, 18], "wmi_event": [19, 20, 21], "dns_query": [22],
    "file_delete": [23, 26], "clipboard_capture": [24], "process_tampering": [25],
    "file_block_executable": [27], "file_block_shredding": [28], "file_executable_detected": [29],
    "sysmon_error": [255],
}

# Security 4688 spells Sysmon's process fields its own way; the first name present wins.
PROCESS_4688 = {
    "Image": "Image|NewProcessName",
    "ParentImage": "ParentImage|ParentProcessName",
    "ProcessId": "NewProcessId|ProcessId",  # Sysmon's ProcessId; in 4688 ProcessId is the parent
    "ParentProcessId": "ParentProcessId|ProcessId",
    "User": "User|SubjectUserName",
    "LogonId": "LogonId|SubjectLogonId",
}

WINDOWS_RENAMES = {"Provider_Name": "Provider", "EventRecordID": "EventRecordID", "Computer": "Computer|@host"}


@dataclass(frozen=True)
class Logsource:
    """One supported Sigma logsource: the family its fields are read with, the conditions that
    select its events (field -> accepted values, AND over fields) and field renames."""

    key: tuple[str | None, str | None, str | None]  # (product, category, service)
    family: str
    select: Mapping[str, list[str | int]] = field(default_factory=dict)
    renames: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return logsource_label(*self.key)


def logsource_label(product: str | None, category: str | None, service: str | None) -> str:
    parts = [f"product={product}" if product else "", f"category={category}" if category else "",
             f"service={service}" if service else ""]
    return " ".join(p for p in parts if p) or "(no logsource)"


def _windows_entries() -> list[Logsource]:
    out = [Logsource(("windows", None, service), "windows_spaced" if service in SPACED_SERVICES else "windows",
                     {"@parser": [WINDOWS], "Channel": list(channels)}, WINDOWS_RENAMES)
           for service, channels in WINDOWS_CHANNELS.items()]
    for category, ids in _SYSMON_CATEGORIES.items():
        select: dict[str, list[str | int]] = {"@parser": [WINDOWS], "Channel": [SYSMON], "EventID": list(ids)}
        renames = dict(WINDOWS_RENAMES)
        if category == "process_creation":
            select = {"@parser": [WINDOWS], "Channel": [SYSMON, "Security"], "EventID": [1, 4688]}
            renames |= PROCESS_4688
        out.append(Logsource(("windows", category, None), "windows", select, renames))
    powershell = {"ps_script": (PS, [4104]), "ps_module": (PS, [4103]), "ps_classic_start": (PS_CLASSIC, [400]),
                  "ps_classic_provider_start": (PS_CLASSIC, [600]), "ps_classic_script": (PS_CLASSIC, [800])}
    for category, (channel, ids) in powershell.items():
        out.append(Logsource(("windows", category, None), "windows",
                             {"@parser": [WINDOWS], "Channel": [channel], "EventID": list(ids)}, WINDOWS_RENAMES))
    out.append(Logsource(("windows", "file_access", None), "windows",
                         {"@parser": [WINDOWS], "Channel": ["Security"], "EventID": [4663]},
                         {**WINDOWS_RENAMES, "TargetFilename": "ObjectName", "Image": "ProcessName"}))
    # antivirus detections (Sigma's generic AV fields) as Microsoft Defender writes them
    defender: dict[str, list[str | int]] = {"@parser": [WINDOWS], "Channel": ["Microsoft-Windows-Windows Defender/Operational"],
                "EventID": [1006, 1007, 1008, 1009, 1010, 1116, 1117, 1118, 1119]}
    av_names = {**WINDOWS_RENAMES, "Signature": "Threat Name", "Filename": "Path"}
    out.append(Logsource(("windows", "antivirus", None), "windows_spaced", defender, av_names))
    out.append(Logsource((None, "antivirus", None), "windows_spaced", defender, av_names))
    return out


def _linux_entries() -> list[Logsource]:
    apps = {"sshd": ["sshd"], "sudo": ["sudo"], "su": ["su"], "cron": ["cron", "CRON", "crond"],
            "vsftpd": ["vsftpd"], "clamav": ["clamd", "freshclam"], "guacamole": ["guacd", "guacamole"],
            "auth": [], "syslog": [], "modsecurity": []}
    out = [Logsource(("linux", None, service), "syslog",
                     {"@parser": list(SYSLOG), **({"@app": list(names)} if names else {})})
           for service, names in apps.items()]
    out.append(Logsource(("linux", None, "auditd"), "auditd", {"@parser": ["auditd"]}))
    # product: linux alone: keyword rules over any Linux log
    out.append(Logsource(("linux", None, None), "syslog", {"@parser": [*SYSLOG, "auditd"]}))
    out.append(Logsource(("linux", "process_creation", None), "auditd_process",
                         {"@parser": ["auditd"], "type": ["EXECVE"]}))
    return out


# SigmaHQ's Entra ID rules name fields as the Log Analytics tables do (`Category`,
# `LoggedByService`, `ActivityDisplayName`, top level) or by an older export's
# `properties.message` (the activity's display name). Diagnostic-settings exports (Event Hub,
# storage PT1H) keep those fields under `properties`, camel-cased, and their top-level
# `category` is the log ("AuditLogs"), not the audit category: the `properties` spelling
# comes first, the Log Analytics one is the fallback.
AZURE_RENAMES: dict[str, dict[str, str]] = {
    "auditlogs": {
        "properties.message": "properties.message|properties.activityDisplayName",
        "ActivityDisplayName": "properties.activityDisplayName|ActivityDisplayName",
        "Category": "properties.category|Category",
        "LoggedByService": "properties.loggedByService|LoggedByService",
        "TargetResources": "properties.targetResources|TargetResources",
        "Status": "properties.result|Status",
    },
    "signinlogs": {
        "AuthenticationRequirement": "properties.authenticationRequirement|AuthenticationRequirement",
        "Status": "properties.status|Status",
    },
    "riskdetection": {"riskEventType": "properties.riskEventType|riskEventType"},
    "pim": {"riskEventType": "properties.riskEventType|riskEventType"},
}


def _cloud_entries() -> list[Logsource]:
    gcp = {"gcp.audit.method_name": "protoPayload.methodName", "gcp.audit.service_name": "protoPayload.serviceName",
           "gcp.audit.resource_name": "protoPayload.resourceName",
           "gcp.audit.principal_email": "protoPayload.authenticationInfo.principalEmail"}
    out = [
        Logsource(("aws", None, "cloudtrail"), "json", {"@parser": ["cloudtrail"]}),
        Logsource(("gcp", None, "gcp.audit"), "json", {"@parser": ["gcp_audit"]}, gcp),
        Logsource(("okta", None, "okta"), "json", {"@parser": ["okta"]}),
        Logsource(("github", None, "audit"), "json", {"@parser": ["github_audit"]}),
        Logsource(("kubernetes", None, "audit"), "json", {"@parser": ["k8s_audit"]}),
        Logsource((None, "application", "kubernetes"), "json", {"@parser": ["k8s_audit"]}),
        Logsource((None, "webserver", None), "web", {"@parser": ["web_access"]}),
    ]
    for service in ("activitylogs", "auditlogs", "signinlogs", "riskdetection", "pim", "azureactivity",
                    "microsoft365portal"):
        out.append(Logsource(("azure", None, service), "azure", {"@parser": ["azure"]}, AZURE_RENAMES.get(service, {})))
    return out


LOGSOURCES: tuple[Logsource, ...] = (*_windows_entries(), *_linux_entries(), *_cloud_entries())
_BY_KEY = {ls.key: ls for ls in LOGSOURCES}


def find_logsource(ls: SigmaLogSource) -> Logsource | None:
    """The entry for a rule's logsource: by category when it has one, else by service; a
    rule's extra `service` beside a category narrows nothing we could not tell apart."""
    product, category, service = ls.product, ls.category, ls.service
    for key in ((product, category, service), (product, category, None), (product, None, service),
                (None, category, service), (None, category, None)):
        if key in _BY_KEY and (key[1] or key[2] or key == (product, category, service)):
            return _BY_KEY[key]
    return None


def _renames(entry: Logsource) -> dict[str | None, str | list[str]]:
    return {k: v for k, v in entry.renames.items()}


def pipeline_for(entry: Logsource) -> ProcessingPipeline:
    """The pySigma processing pipeline of one logsource: its selecting conditions added to the
    rule's condition, then its field renames. (A fresh one each time: pySigma keeps state in it.)"""
    items = [ProcessingItem(identifier=f"auditctl_select_{entry.family}",
                            transformation=AddConditionTransformation(dict(entry.select)))]  # type: ignore[arg-type]
    if entry.renames:
        items.append(ProcessingItem(identifier=f"auditctl_fields_{entry.family}",
                                    transformation=FieldMappingTransformation(_renames(entry))))
    return ProcessingPipeline(name=f"auditctl {entry.label}", priority=20, items=items)

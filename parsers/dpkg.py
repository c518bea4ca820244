"""dpkg.log: Debian/Ubuntu package manager actions, one line each (`/var/log/dpkg.log`).

    2024-01-15 10:23:45 install libc6:amd64 <none> 2.36-9
    2024-01-15 10:23:45 status installed libc6:amd64 2.36-9

Every line is a `system` event. The schema's vocabulary has no package words, so action is
`log` and `original_action` holds dpkg's verb (install, upgrade, remove, purge, configure,
trigproc, status, startup, conffile); resource = the package (`libc6:amd64`); attrs: package,
arch, installed_version and available_version (dpkg's two version columns: an upgrade goes from
the first to the second; `<none>` is left out), and for status lines state and version. Outcome: a status
line with a settled state (installed, not-installed, config-files) is a success; half-done
states and the action lines (which dpkg writes when it starts the action) are unknown. The stamp
has no zone: it is local time, read in the source's time zone (config `timezone` / `--tz`).
"""

from __future__ import annotations

import re

from auditctl.plugins import LineParser
from auditctl.schema import Event
from auditctl.sources import Head, Source
from auditctl.timeutil import parse_iso

_VERBS = "install|upgrade|remove|purge|configure|trigproc|status|startup|conffile"
_LINE = re.compile(rf"(\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d) ({_VERBS}) (.*)")
_SETTLED = frozenset({"installed", "not-installed", "config-files"})
_NONE = "<none>"


def _package(attrs: dict, name: str) -> str:
    package, _, arch = name.partition(":")
    attrs["package"] = package
    if arch:
        attrs["arch"] = arch
    return name


def _versions(attrs: dict, installed: str | None, available: str | None) -> None:
    if installed and installed != _NONE:
        attrs["installed_version"] = installed
    if available and available != _NONE:
        attrs["available_version"] = available


class DpkgParser(LineParser):
    name = "dpkg"
    description = "dpkg.log: Debian/Ubuntu package installs, upgrades, removals (local-time stamps)"

    def score(self, head: Head) -> tuple[float, str]:
        lines = head.lines[:30]
        if not lines:
            return 0.0, ""
        hits = sum(1 for ln in lines if _LINE.match(ln))
        if hits >= 0.8 * len(lines):
            return 0.9, f"{hits} of the first {len(lines)} lines are dpkg actions (date time verb package)"
        return 0.0, ""

    def parse_line(self, text: str, source: Source) -> Event | None:
        m = _LINE.match(text)
        if m is None:
            return None
        stamp, verb, rest = m.groups()
        words = rest.split()
        attrs: dict = {}
        resource = None
        outcome = "unknown"
        if verb == "status" and len(words) >= 2:
            attrs["state"] = words[0]
            resource = _package(attrs, words[1])
            if len(words) > 2 and words[2] != _NONE:
                attrs["version"] = words[2]
            if words[0] in _SETTLED:
                outcome = "success"
        elif verb == "startup":
            attrs["phase"] = rest
        elif verb == "conffile" and words:
            resource = words[0]
            if len(words) > 1:
                attrs["decision"] = words[1]
        elif words:
            resource = _package(attrs, words[0])
            _versions(attrs, words[1] if len(words) > 1 else None, words[2] if len(words) > 2 else None)
        else:
            raise ValueError(f"{verb} without a package")
        return Event(ts=parse_iso(stamp, source.tz), category="system", action="log", outcome=outcome,
                     app="dpkg", resource=resource, original_action=verb, message=f"{verb} {rest}",
                     attrs=attrs or None)


parser = DpkgParser()

#!/usr/bin/env python3
"""The service templates in launchd/, filled in the way `vmmctl service install`
fills them (tools/vmmctl/service.c), read by the tools that will read them:
systemd-analyze verify for the unit, plutil -lint for the plist where there is
one (macOS), and always Python's XML and plist parsers for the plist's
structure and keys.
    test_service_files.py UNIT_TEMPLATE PLIST_TEMPLATE
"""
import os
import plistlib
import shutil
import stat
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

failures = []


def fail(message):
    print("FAIL: " + message)
    failures.append(message)


def fill(template, values, optional_home):
    """Replaces @NAME@ placeholders; a line naming @IGNITION_HOME@ is dropped
    when there is no IGNITION_HOME, as service.c does."""
    lines = []
    for line in template.splitlines(keepends=True):
        if "@IGNITION_HOME@" in line and optional_home is None:
            continue
        for name, value in values.items():
            line = line.replace("@%s@" % name, value)
        lines.append(line)
    return "".join(lines)


def systemd_escape(value, command_line):
    """service.c's escaping: C escapes for what would split or quote a word,
    %% for specifiers, $$ where ExecStart expands variables."""
    out = []
    for ch in value:
        if ch == "%":
            out.append("%%")
        elif ch == "$" and command_line:
            out.append("$$")
        elif ch == "\\":
            out.append("\\\\")
        elif ch in " \t\"';":
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def xml_escape(value):
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


def unit_settings(text):
    """KEY=VALUE lines of a unit, as (section, key) -> [values]."""
    settings, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault((section, key), []).append(value)
    return settings


def check_unit(template, work):
    # A real executable whose path needs every kind of escaping service.c does.
    bindir = os.path.join(work, "my bin 100%")
    os.mkdir(bindir)
    vmmd = os.path.join(bindir, "vmmd")
    shutil.copy(shutil.which("true") or "/bin/true", vmmd)
    os.chmod(vmmd, stat.S_IRWXU)
    for home in (None, "/srv/ignition home"):
        values = {"VMMD": systemd_escape(vmmd, True),
                  "IGNITION_HOME": systemd_escape(home or "", False)}
        text = fill(template, values, home)
        if "@" in text:
            fail("a placeholder is left in the unit: %r" % text)
        settings = unit_settings(text)
        expected = {("Service", "Type"): ["simple"],
                    ("Service", "ExecStart"): [values["VMMD"] + " --service"],
                    ("Service", "KillMode"): ["process"],
                    ("Service", "Restart"): ["on-failure"],
                    ("Install", "WantedBy"): ["default.target"]}
        if home:
            expected[("Service", "Environment")] = ["IGNITION_HOME=" + values["IGNITION_HOME"]]
        for key, value in expected.items():
            if settings.get(key) != value:
                fail("unit %s=%s, expected %s" % (key[1], settings.get(key), value))
        if not home and ("Service", "Environment") in settings:
            fail("an Environment= line without IGNITION_HOME")
        verify_unit(text, work)


def verify_unit(text, work):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("systemd-analyze is not installed: the unit is not verified")
        return
    path = os.path.join(work, "ignition-vmmd.service")
    with open(path, "w") as f:
        f.write(text)
    # A user manager needs a runtime directory; a private one will do.
    runtime = tempfile.mkdtemp(dir=work)
    env = dict(os.environ, XDG_RUNTIME_DIR=runtime)
    r = subprocess.run([analyze, "--user", "--man=no", "verify", path], env=env,
                       capture_output=True, text=True)
    # verify exits 0 after many complaints ("Failed to parse kill mode
    # specification, ignoring"), so anything it says is a failure too.
    said = (r.stdout + r.stderr).strip()
    if r.returncode != 0 or said:
        fail("systemd-analyze verify (exit %d): %s" % (r.returncode, said))
    else:
        print("systemd-analyze verify: clean")


def check_plist(template, work):
    vmmd = "/Users/a&b/<ignition>/vmmd"
    user_home = "/Users/o'brien"
    for ignition_home in (None, "/Users/a&b/state"):
        values = {"VMMD": xml_escape(vmmd), "HOME": xml_escape(user_home),
                  "IGNITION_HOME": xml_escape(ignition_home or "")}
        text = fill(template, values, ignition_home)
        if "@" in text:
            fail("a placeholder is left in the plist")
        try:
            root = ET.fromstring(text.encode())
        except ET.ParseError as e:
            fail("the plist is not well-formed XML: %s" % e)
            continue
        if root.tag != "plist" or len(root) != 1 or root[0].tag != "dict":
            fail("the plist is not <plist><dict>...</dict></plist>")
        plist = plistlib.loads(text.encode())
        log = user_home + "/Library/Logs/ignition/vmmd.log"
        expected = {"Label": "org.ignition.vmmd", "ProgramArguments": [vmmd, "--service"],
                    "RunAtLoad": True, "KeepAlive": True,
                    "StandardOutPath": log, "StandardErrorPath": log}
        if ignition_home:
            expected["EnvironmentVariables"] = {"IGNITION_HOME": ignition_home}
        if plist != expected:
            fail("the plist holds %r, expected %r" % (plist, expected))
        lint_plist(text, work)


def lint_plist(text, work):
    plutil = shutil.which("plutil")
    if not plutil:
        return
    path = os.path.join(work, "org.ignition.vmmd.plist")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([plutil, "-lint", path], capture_output=True, text=True)
    if r.returncode != 0:
        fail("plutil -lint: " + (r.stdout + r.stderr).strip())


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        unit_template = f.read()
    with open(sys.argv[2]) as f:
        plist_template = f.read()
    with tempfile.TemporaryDirectory() as work:
        check_unit(unit_template, work)
        check_plist(plist_template, work)
    if failures:
        sys.exit(1)
    print("the unit and the plist are what vmmctl service install needs")


if __name__ == "__main__":
    main()

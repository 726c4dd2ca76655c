#!/usr/bin/env python3
"""Bad input to `vmmd run` gets one clear line and a non-zero exit, never a
crash: truncated or foreign kernels, a missing initrd, absurd memory sizes,
display and vsock options out of range, sockets where others could reach them."""

import os
import subprocess
import sys
import tempfile

from guest import guest_dir, require_assets, vmmd_path


def run(*args):
    p = subprocess.run([vmmd_path(), *args], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def check(name, args, want_in_message, want_status=None):
    status, out, err = run(*args)
    lines = [l for l in err.splitlines() if l.strip() and "backend auto" not in l]
    problems = []
    if status <= 0:
        problems.append(f"exit status {status} (want a non-zero exit, not a signal)")
    if want_status is not None and status != want_status:
        problems.append(f"exit status {status}, want {want_status}")
    if len(lines) != 1:
        problems.append(f"{len(lines)} error lines, want exactly one")
    if not any(want_in_message in l for l in lines):
        problems.append(f"no line mentions {want_in_message!r}")
    if problems:
        print(f"FAIL {name}: {'; '.join(problems)}\nstderr:\n{err}\nstdout:\n{out}")
        return False
    print(f"ok {name}: {lines[0]}")
    return True


def main():
    require_assets()
    image = os.path.join(guest_dir(), "Image")
    with open(image, "rb") as f:
        kernel = f.read()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        truncated = os.path.join(tmp, "truncated-Image")
        with open(truncated, "wb") as f:
            f.write(kernel[: len(kernel) // 3])
        tiny = os.path.join(tmp, "tiny-Image")
        with open(tiny, "wb") as f:
            f.write(kernel[:40])
        foreign = os.path.join(tmp, "x86-program")
        with open(foreign, "wb") as f, open(sys.executable, "rb") as src:
            f.write(src.read(1 << 20))
        ok &= check("truncated kernel", ["run", "--kernel", truncated], "truncated", 1)
        ok &= check("header-only kernel", ["run", "--kernel", tiny], "too short", 1)
        ok &= check("non-arm64 kernel", ["run", "--kernel", foreign], "not an arm64", 1)
        ok &= check("missing kernel", ["run", "--kernel", os.path.join(tmp, "nope")],
                    "No such file", 1)
        ok &= check("missing initrd", ["run", "--kernel", image, "--initrd",
                                       os.path.join(tmp, "missing.cpio.gz")], "initrd", 1)
        ok &= check("absurd --mem", ["run", "--kernel", image, "--mem", "64T"], "--mem", 2)
        ok &= check("tiny --mem", ["run", "--kernel", image, "--mem", "1M"], "--mem", 2)
        ok &= check("garbage --mem", ["run", "--kernel", image, "--mem", "lots"], "--mem", 2)
        ok &= check("unknown backend", ["run", "--kernel", image, "--backend", "xen"],
                    "unknown backend", 1)
        ok &= check("kvm not built", ["run", "--kernel", image, "--backend", "kvm"],
                    "not built", 1)
        huge_initrd = os.path.join(tmp, "huge.cpio.gz")
        with open(huge_initrd, "wb") as f:
            f.truncate(80 << 20)  # sparse: costs no disk
        ok &= check("initrd too big for memory",
                    ["run", "--kernel", image, "--initrd", huge_initrd, "--mem", "64M"],
                    "more memory", 1)
        # The display's options, and a socket where others could reach it.
        ok &= check("zero display size", ["run", "--kernel", image, "--display", "0x600"],
                    "--display", 2)
        ok &= check("display size not WxH", ["run", "--kernel", image, "--display", "big"],
                    "--display", 2)
        ok &= check("too many scanouts", ["run", "--kernel", image, "--scanouts", "17"],
                    "--scanouts", 2)
        ok &= check("socket without gpu", ["run", "--kernel", image, "--no-gpu",
                                           "--socket", os.path.join(tmp, "s.sock")],
                    "--no-gpu", 2)
        shared = os.path.join(tmp, "shared")
        os.mkdir(shared, 0o755)
        os.chmod(shared, 0o755)
        ok &= check("socket in a shared directory",
                    ["run", "--kernel", image, "--socket", os.path.join(shared, "s.sock")],
                    "chmod 700", 1)
        ok &= check("socket path too long",
                    ["run", "--kernel", image, "--socket", os.path.join(tmp, "x" * 120)],
                    "at most", 1)
        # vsock: a CID that is not a guest's, and its socket where others could reach it.
        for cid in ("2", "4294967295", "-3", "three"):
            ok &= check(f"--cid {cid}", ["run", "--kernel", image, "--cid", cid], "--cid", 2)
        ok &= check("vsock and no vsock", ["run", "--kernel", image, "--no-vsock", "--vsock",
                                           os.path.join(tmp, "v.sock")], "--no-vsock", 2)
        ok &= check("vsock socket in a shared directory",
                    ["run", "--kernel", image, "--no-gpu", "--net", "none", "--vsock",
                     os.path.join(shared, "v.sock")], "chmod 700", 1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# The shell completion for vmmctl: both scripts parse (zsh -n where zsh is
# installed), and the bash one offers what it should, with a fake vmmctl on PATH
# that prints a fixed guest list and records how it was asked.
#   test_completion.sh BASH_SCRIPT ZSH_SCRIPT
set -u
bash_script=$1
zsh_script=$2
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

bash -n "$bash_script" || fail "bash -n $bash_script"
if command -v zsh >/dev/null 2>&1; then
    zsh -n "$zsh_script" || fail "zsh -n $zsh_script"
else
    echo "zsh is not installed: $zsh_script not checked"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin" "$work/files"
cat >"$work/bin/vmmctl" <<'FAKE'
#!/bin/sh
echo "$*" >>"$VMMCTL_ASKED"
printf '%s\n' '{"guests":[{"name":"demo","state":"running","config":{"kernel":"/k/Image",' \
    '"disks":[{"path":"/d/root.ext4","ro":false}]},"pid":42},' \
    '{"name":"web-2.b","state":"stopped","pid":0}]}'
FAKE
chmod +x "$work/bin/vmmctl"
touch "$work/files/Image" "$work/files/initramfs.cpio.gz" "$work/files/shot.png"
export PATH="$work/bin:$PATH" VMMCTL_ASKED="$work/asked"

# shellcheck source=/dev/null
source "$bash_script"
complete -p vmmctl >/dev/null || fail "the script registers no completion for vmmctl"

# Completes LINE (the cursor at its end; a trailing space starts a new word) and
# compares the sorted offers with EXPECTED.
expect() {
    local line=$1 expected=$2
    read -r -a COMP_WORDS <<<"$line"
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    _vmmctl vmmctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    local got
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
    got=${got% }
    if [ "$got" != "$expected" ]; then
        fail "'$line': offered '$got', expected '$expected'"
    fi
}

expect "vmmctl st" "start status stop"
expect "vmmctl stop " "demo web-2.b"
expect "vmmctl stop w" "web-2.b"
expect "vmmctl stop demo --" "--force --timeout"
expect "vmmctl stop demo " ""
expect "vmmctl --json l" "list logs"
expect "vmmctl --" "--home --json"
expect "vmmctl service " "install status uninstall"
expect "vmmctl start demo --backend " "auto emu hvf kvm"
expect "vmmctl start demo --image deskt" "desktop"
expect "vmmctl start demo --image $work/files/I" "$work/files/Image"
expect "vmmctl start demo --mem " ""
expect "vmmctl start demo --m" "--mem"
expect "vmmctl logs demo -" "-f"
expect "vmmctl view demo --s" "--scale --size"
expect "vmmctl send-keys " "demo web-2.b"
expect "vmmctl start demo --kernel $work/files/I" "$work/files/Image"
expect "vmmctl start demo --mem 2G --initrd $work/files/in" "$work/files/initramfs.cpio.gz"
expect "vmmctl screenshot demo $work/files/s" "$work/files/shot.png"
expect "vmmctl screenshot --scanout 1 demo $work/files/s" "$work/files/shot.png"
expect "vmmctl screenshot " "demo web-2.b"
expect "vmmctl rel" "relaunch"
expect "vmmctl pr" "prune"
expect "vmmctl prune --" "--dry-run"
expect "vmmctl relaunch " "demo web-2.b"

# --home before the command is passed on, so the names are that state
# directory's guests.
: >"$VMMCTL_ASKED"
expect "vmmctl --home $work/state rm " "demo web-2.b"
asked=$(cat "$VMMCTL_ASKED")
[ "$asked" = "--home $work/state list --json" ] ||
    fail "the guest list was asked for with '$asked'"

[ "$failures" = 0 ] && echo "completion offers what it should"
exit $((failures > 0))

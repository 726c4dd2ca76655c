# bash completion for vmmctl(1): commands, each command's options, guest names
# (from `vmmctl list --json`) and file names where a command takes a file.
# Installed as <datadir>/bash-completion/completions/vmmctl.

_vmmctl_commands="start stop list status console logs view screenshot send-keys rm
    snapshot restore relaunch fanout browser snapshots rm-snapshot prune service version"

# Options that take a value: the word after them is not a positional argument.
_vmmctl_valued="--home --image --kernel --initrd --disk --mem --cpus --append --backend --display
    --timeout --scanout --size --scale --title --name --prefix --net --publish --screenshot"

# Guest names, read from vmmctl's JSON without jq: the shape is
# {"guests":[{"name":"demo",...},...]} and names are [A-Za-z0-9_.-], so cutting
# at every { and , leaves each "name":"..." at the start of a line.
_vmmctl_guests()
{
    command vmmctl "$@" list --json 2>/dev/null | tr ',{' '\n\n' |
        sed -n 's/^[[:space:]]*"name"[[:space:]]*:[[:space:]]*"\([A-Za-z0-9_.-]*\)".*/\1/p'
}

_vmmctl_options()
{
    case $1 in
        start) echo "--image --kernel --initrd --disk --mem --cpus --append --backend --gui
                     --no-gui --display --view --net --publish" ;;
        stop) echo "--force --timeout" ;;
        list | status) echo "--json" ;;
        logs) echo "-f" ;;
        view) echo "--size --scale --fullscreen --no-resize-guest --wait --title" ;;
        screenshot) echo "--scanout" ;;
        snapshot) echo "--stop" ;;
        restore) echo "--name --publish --view --rm --host-loopback" ;;
        fanout) echo "--prefix --publish --view --rm --host-loopback" ;;
        browser) echo "--name --no-view --screenshot --allow-host --rebuild --backend --cpus" ;;
        prune) echo "--dry-run" ;;
    esac
}

_vmmctl_is_valued()
{
    local v
    for v in $_vmmctl_valued; do
        [ "$1" = "$v" ] && return 0
    done
    return 1
}

_vmmctl_files()
{
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$1"))
}

_vmmctl()
{
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local i=1 cmd= cmd_at=0 home=()
    COMPREPLY=()

    # Global options come before the command; --home changes whose guests these are.
    while [ "$i" -lt "$COMP_CWORD" ]; do
        case ${COMP_WORDS[i]} in
            --home)
                home=(--home "${COMP_WORDS[i + 1]}")
                i=$((i + 1)) ;;
            -*) ;;
            *)
                cmd=${COMP_WORDS[i]}
                cmd_at=$i
                break ;;
        esac
        i=$((i + 1))
    done

    case $prev in
        --home)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -d -- "$cur"))
            return ;;
        --kernel | --initrd | --disk)
            _vmmctl_files "$cur"
            return ;;
        --backend)
            COMPREPLY=($(compgen -W "auto emu kvm hvf" -- "$cur"))
            return ;;
        --image)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -W "console desktop" -- "$cur") $(compgen -f -- "$cur"))
            return ;;
    esac
    if _vmmctl_is_valued "$prev"; then
        return # a number, a size or free text: nothing to offer
    fi

    if [ -z "$cmd" ]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "--json --home" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$_vmmctl_commands" -- "$cur"))
        fi
        return
    fi

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_vmmctl_options "$cmd")" -- "$cur"))
        return
    fi

    # Which positional argument of the command is being completed.
    local position=0 word
    for ((i = cmd_at + 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if _vmmctl_is_valued "$word"; then
            i=$((i + 1))
        elif [[ $word != -* ]]; then
            position=$((position + 1))
        fi
    done

    case $cmd:$position in
        service:0)
            COMPREPLY=($(compgen -W "install uninstall status" -- "$cur")) ;;
        screenshot:1)
            _vmmctl_files "$cur" ;;
        start:0 | stop:0 | status:0 | console:0 | logs:0 | view:0 | screenshot:0 | \
            send-keys:0 | rm:0 | relaunch:0)
            COMPREPLY=($(compgen -W "$(_vmmctl_guests "${home[@]}")" -- "$cur")) ;;
    esac
}

complete -F _vmmctl vmmctl

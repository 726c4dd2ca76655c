#!/bin/sh
# Lints manual pages: mandoc -T lint where there is one (warnings and errors
# fail; style notes do not, as some depend on which other manuals this machine
# has), else groff, whose every warning fails.
#   test_man_pages.sh PAGE...
set -u
status=0
for page in "$@"; do
    if command -v mandoc >/dev/null 2>&1; then
        mandoc -T lint -W warning "$page" || status=1
    else
        out=$(groff -mdoc -ww -z "$page" 2>&1) || status=1
        if [ -n "$out" ]; then
            printf '%s\n' "$out"
            status=1
        fi
    fi
done
[ "$status" = 0 ] && echo "$# pages are clean"
exit "$status"

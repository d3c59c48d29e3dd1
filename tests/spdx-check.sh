#!/bin/sh
# SPDX-License-Identifier: ISC
# List the source files, scripts and man pages of the tree that lack an
# "SPDX-License-Identifier: ISC" line in their first 3 lines (after a
# shebang, or first in a man page), each with the comment line it needs:
#     daemon/main.c	/* SPDX-License-Identifier: ISC */
# Exits 1 when any file lacks it (with a count on stderr), 0 silently
# when none does. With --fix it adds the line instead (first, or after a
# #! line) and lists the files it changed.
#
# Usage: sh tests/spdx-check.sh [--fix] [REPO]   (default: the tree
# holding this script; `make check` and `make lint` run it). Files are the
# ones git tracks (or, outside git, every file);
# test data (fuzz corpora, golden outputs, dictionaries) and formats
# without comments (debian/changelog, debian/copyright, debian/source/*)
# are not source and are skipped, as are LICENSE and Markdown files.

set -eu

fix=0
if [ "${1:-}" = --fix ]; then
    fix=1
    shift
fi
repo=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$repo"

list_files()
{
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files
    else
        find . -type f ! -path './.git/*' ! -path './build*' ! -path './var/*' | sed 's|^\./||'
    fi
}

# The comment line a file needs, or nothing when the file is not source.
needed()
{
    f=$1
    case $f in
        tests/fuzz/corpus/* | tests/integration/golden/* | *.dict | LICENSE | *.md | \
            debian/changelog | debian/copyright | debian/source/* | debian/README.*)
            return 0
            ;;
        *.c | *.h) echo '/* SPDX-License-Identifier: ISC */' ;;
        *.sql) echo '-- SPDX-License-Identifier: ISC' ;;
        *.ini) echo '; SPDX-License-Identifier: ISC' ;;
        man/*.[1-8]) echo '.\" SPDX-License-Identifier: ISC' ;;
        *.py | *.sh | *.bash-completion | Makefile | */Makefile | debian/rules | debian/control | \
            debian/*.install | debian/*.lintian-overrides | systemd/* | .gitignore | */.gitignore | \
            .clang-format | .clang-tidy)
            echo '# SPDX-License-Identifier: ISC'
            ;;
        *)
            # any other script: a shebang
            if [ -f "$f" ] && head -c 2 "$f" | grep -q '^#!'; then
                echo '# SPDX-License-Identifier: ISC'
            fi
            ;;
    esac
}

total=0
missing=0
for f in $(list_files); do
    [ -f "$f" ] || continue
    line=$(needed "$f")
    [ -n "$line" ] || continue
    total=$((total + 1))
    if ! head -n 3 "$f" | grep -q 'SPDX-License-Identifier: ISC'; then
        printf '%s\t%s\n' "$f" "$line"
        missing=$((missing + 1))
        if [ $fix -eq 1 ]; then
            tmp=$(mktemp)
            if head -c 2 "$f" | grep -q '^#!'; then
                { head -n 1 "$f"; printf '%s\n' "$line"; tail -n +2 "$f"; } >"$tmp"
            else
                { printf '%s\n' "$line"; cat "$f"; } >"$tmp"
            fi
            cat "$tmp" >"$f" # keeps the file's mode
            rm -f "$tmp"
        fi
    fi
done
if [ $fix -eq 1 ]; then
    echo "spdx-check: added the SPDX-License-Identifier line to $missing of $total source files" >&2
    exit 0
fi
[ "$missing" -eq 0 ] && exit 0
echo "spdx-check: $missing of $total source files lack the SPDX-License-Identifier line" \
    "(sh tests/spdx-check.sh --fix adds it)" >&2
exit 1

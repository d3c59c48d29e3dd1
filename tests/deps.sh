#!/bin/sh
# SPDX-License-Identifier: ISC
# `make deps`: the Debian packages the build, the tests and the package
# need. As root, installs the missing ones (one apt-get update first);
# otherwise prints the exact command and exits 1.
#
#   sh tests/deps.sh PACKAGE...
set -u

missing=
for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
        missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "deps: all Debian packages present"
elif [ "$(id -u)" = 0 ]; then
    echo "deps: installing$missing"
    # shellcheck disable=SC2086 # one word per package
    apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
else
    echo "deps: missing Debian packages; run as root:"
    echo "    apt-get update && apt-get install -y$missing"
    exit 1
fi

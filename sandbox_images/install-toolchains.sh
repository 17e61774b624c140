#!/usr/bin/env bash
# Install the toolchains of local (bubblewrap) execution from Debian, plus the npm packages the
# language table names. Idempotent and non-interactive; fast when everything is present.
#
#   sandbox_images/install-toolchains.sh            # every language with a Debian toolchain
#   sandbox_images/install-toolchains.sh py cpp     # only these languages
#
# The package lists come from sandbox_images/languages.toml, the same table the sandbox runs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
table="$here/languages.toml"
npm_prefix="/usr/local/lib/reflectseq-npm"

read_table() {  # $1: debian_packages | npm_packages; remaining args: language codes (or none)
    /usr/bin/python3 - "$table" "$@" <<'PY'
import sys, tomllib
table, field, codes = sys.argv[1], sys.argv[2], sys.argv[3:]
languages = tomllib.load(open(table, "rb"))["languages"]
unknown = [c for c in codes if c not in languages]
if unknown:
    sys.exit(f"unknown language code(s): {' '.join(unknown)}")
for code in codes or languages:
    for package in languages[code].get(field, []):
        print(package)
PY
}

debian_list="$(read_table debian_packages "$@")"  # fails here on an unknown code
npm_list="$(read_table npm_packages "$@")"
mapfile -t debian < <(printf '%s\n' bubblewrap util-linux $debian_list | sort -u)
mapfile -t npm < <(printf '%s\n' $npm_list | sort -u | sed '/^$/d')

missing=()
for package in "${debian[@]}"; do
    # Node comes from nodesource on some hosts; any /usr/bin/node satisfies "nodejs".
    if [[ "$package" == nodejs && -x /usr/bin/node ]]; then
        continue
    fi
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}"
else
    echo "Debian toolchains: all present"
fi

for spec in "${npm[@]}"; do
    name="${spec%@*}" version="${spec##*@}"
    installed="$npm_prefix/node_modules/$name/package.json"
    if [[ -f "$installed" ]] && grep -q "\"version\": \"$version\"" "$installed"; then
        continue
    fi
    echo "installing npm package $spec into $npm_prefix"
    npm install --no-audit --no-fund --prefix "$npm_prefix" "$spec"
done

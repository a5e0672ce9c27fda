#!/bin/bash
# apt-sources.sh --mirror | --deb-src - the Debian archive this machine's own
# apt configuration names, for the scripts that fetch from it
# (scripts/build-static.sh, scripts/test-in-docker.sh, packaging/deb/build.sh).
# No mirror host is written in the tree: a machine that installs its packages
# from elsewhere builds from there too.
#   --mirror   prints the URI of the first binary ("deb") source whose suites
#              are not a -security suite (what debootstrap needs)
#   --deb-src  prints one-line "deb-src" entries for every binary source
#              (suites, components and signed-by kept), for `apt-get source`
# Reads the deb822 files (/etc/apt/sources.list.d/*.sources) and the one-line
# files (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list); disabled
# entries ("Enabled: no", comments) are ignored.  APT_SOURCES_DIR overrides
# /etc/apt (tests).  Exits 1 with a message naming the files read when the
# configuration has no usable entry.
set -euo pipefail

etc=${APT_SOURCES_DIR:-/etc/apt}
mode=${1:-}
case "$mode" in
  --mirror | --deb-src) ;;
  *) echo "usage: apt-sources.sh --mirror | --deb-src" >&2; exit 2 ;;
esac

# Every enabled binary entry as "URI<TAB>SUITE<TAB>COMPONENTS<TAB>SIGNED-BY",
# one line per suite.
entries() {
  local f
  for f in "$etc"/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v OFS='\t' '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "")
          { n = split(uris, u, " "); m = split(suites, s, " ")
            for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print u[i], s[j], comps, signed }
        types = uris = suites = comps = signed = ""; enabled = "" }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^[ \t]+/, "")
        if (key == "types") types = $0; else if (key == "uris") uris = $0
        else if (key == "suites") suites = $0; else if (key == "components") comps = $0
        else if (key == "signed-by") signed = $0; else if (key == "enabled") enabled = tolower($0) }
      END { flush() }' "$f"
  done
  for f in "$etc"/sources.list "$etc"/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v OFS='\t' '
      $1 != "deb" { next }
      { opts = ""; i = 2
        if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) { opts = opts " " $i; i++ } opts = opts " " $i; i++ }
        signed = ""; if (match(opts, /signed-by=[^] ]+/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
        uri = $i; suite = $(i + 1); comps = ""
        for (k = i + 2; k <= NF; k++) comps = comps (comps == "" ? "" : " ") $k
        print uri, suite, comps, signed }' "$f"
  done
}

list=$(entries)
if [ -z "$list" ]; then
  echo "apt-sources: no enabled 'deb' entry in $etc/sources.list or $etc/sources.list.d/ (configure apt first)" >&2
  exit 1
fi

if [ "$mode" = --mirror ]; then
  uri=$(printf '%s\n' "$list" | awk -F'\t' '$2 !~ /-security$/ && $2 !~ /\/updates$/ { print $1; exit }')
  if [ -z "$uri" ]; then
    echo "apt-sources: only security suites are configured in $etc; no archive mirror to bootstrap from" >&2
    exit 1
  fi
  echo "$uri"
else
  printf '%s\n' "$list" | awk -F'\t' '{
    opt = ($4 != "" ? "[signed-by=" $4 "] " : "")
    print "deb-src " opt $1 " " $2 " " ($3 != "" ? $3 : "main") }' | sort -u
fi

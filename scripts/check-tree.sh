#!/bin/bash
# check-tree.sh - the tree's structural rules, checked on the sources (no build):
#   1. no source file over 800 lines: C in src/, tests/, fuzz/, bench/; Python
#      and shell in tests/, bench/, controlplane/, scripts/
#   2. dependencies run one way:
#        core <- log <- task <- config/docker/state/aws/systemd <- engine/ecs
#             <- acs/update/introspection/tcs/tmds <- agent <- main
#      a file in src/<module>/ includes "<other>/..." only from a lower level;
#      modules on the same level do not include each other, except the edges
#      listed in SAME_LEVEL_OK below, each with its reason
#   3. no cast to a function-pointer type in src/ (a callback has its real
#      type): neither "(void (*) (...))"-style casts nor casts to a named
#      callback type (names ending in _cb, _fn, _callback, _function, and
#      every function-pointer typedef of src/)
#   4. no file names a *.md document that is not in the repository, and no
#      comment in src/ cites a document section with "§"
#   5. a sleep in the code of tests/ or controlplane/tests (not inside a
#      string: a container's command, a peer's behaviour) carries a comment
#      on its line saying what it is: tests wait on conditions
# Prints every violation as "check-tree: <rule>: <file>:<line>: <detail>",
# then "check-tree: N violation(s)".  Exit status 0 only when there is none.
# With $TEST_RESULTS set (scripts/test-all.sh), appends one result line
# "passed failed skipped check-tree" (the whole check counts as one test).
set -u
cd "$(dirname "$0")/.."

MAX_LINES=800

# level of each module of src/ (a lower number is a lower level)
declare -A LEVEL=(
  [core]=0 [log]=1 [task]=2
  [config]=3 [docker]=3 [state]=3 [aws]=3 [systemd]=3
  [engine]=4 [ecs]=4
  [acs]=5 [update]=5 [introspection]=5 [tcs]=5 [tmds]=5
  [agent]=6
)
# same-level includes that are allowed: "from->to" = reason
declare -A SAME_LEVEL_OK=(
  [tcs->acs]="the TCS session dials like the ACS one: acs/url.h builds and resolves its URL"
  [update->acs]="update handles the ACS update messages (acs/codec.h structs) and answers them on the ACS session (acs/session.h)"
  [tmds->introspection]="the task metadata server runs on the introspection HTTP server (introspection/introspection.h: handle, deferred replies)"
)

nviol=0
violation() { echo "check-tree: $*"; nviol=$((nviol + 1)); }

# ---------------------------------------------------------------- 1. size
while read -r n f; do
  [ "$f" = total ] && continue
  [ "$n" -le "$MAX_LINES" ] || violation "size: $f:$n: $n lines (at most $MAX_LINES)"
done < <(find src tests fuzz bench controlplane scripts -type f \( -name '*.c' -o -name '*.h' -o -name '*.py' -o -name '*.sh' \) \
           -not -path '*/corpus/*' -print0 | sort -z | xargs -0 wc -l)

# ---------------------------------------------------------------- 2. includes
for dir in src/*/; do
  mod=$(basename "$dir")
  if [ -z "${LEVEL[$mod]+x}" ]; then
    violation "layer: $dir:0: module '$mod' has no place in the dependency order (add it to scripts/check-tree.sh)"
    continue
  fi
  for f in "$dir"*.[ch]; do
    [ -e "$f" ] || continue
    while IFS=: read -r line dep; do
      [ "$dep" = "$mod" ] && continue
      if [ -z "${LEVEL[$dep]+x}" ]; then
        [ -d "src/$dep" ] && violation "layer: $f:$line: includes $dep/, a module with no place in the order"
        continue
      fi
      if [ "${LEVEL[$dep]}" -gt "${LEVEL[$mod]}" ]; then
        violation "layer: $f:$line: $mod includes $dep/ (a higher module)"
      elif [ "${LEVEL[$dep]}" -eq "${LEVEL[$mod]}" ] && [ -z "${SAME_LEVEL_OK[$mod->$dep]+x}" ]; then
        violation "layer: $f:$line: $mod includes $dep/ (same level)"
      fi
    done < <(grep -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[A-Za-z0-9_]+/' "$f" |
             sed -E 's/^([0-9]+):[^"]*"([A-Za-z0-9_]+)\/.*/\1:\2/')
  done
done

# ---------------------------------------------------------------- 3. casts
# function-pointer typedefs of src/: "typedef R (*name) (...)" and function
# types "typedef R name (...)"
fptypes=$(grep -h -o -E 'typedef[^;(]*\(\s*\*\s*[A-Za-z_][A-Za-z0-9_]*\s*\)' src/*/*.h src/*/*.c 2>/dev/null |
          sed -E 's/.*\(\s*\*\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$/\1/' | sort -u | paste -sd'|')
fntypes=$(grep -h -o -E 'typedef\s+[A-Za-z_][A-Za-z0-9_ ]*[ *]([A-Za-z_][A-Za-z0-9_]*)\s*\(' src/*/*.h src/*/*.c 2>/dev/null |
          sed -E 's/.*[ *]([A-Za-z_][A-Za-z0-9_]*)\s*\($/\1/' | sort -u | paste -sd'|')
names='[A-Za-z_][A-Za-z0-9_]*_(cb|fn|callback|function)'
[ -n "$fptypes" ] && names="$names|$fptypes"
[ -n "$fntypes" ] && names="$names|$fntypes"
while IFS= read -r hit; do
  violation "cast: $hit"
done < <(find src -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z |
  xargs -0 perl -ne '
    BEGIN { $names = shift @ARGV }
    my $l = $_;
    $l =~ s{//.*$}{};                       # line comments
    $l =~ s{/\*.*?\*/}{}g;                  # one-line block comments
    $l =~ s{"(?:[^"\\]|\\.)*"}{""}g;        # strings
    # "(R (*) (", "(R (*)(": a cast to an unnamed function-pointer type
    if ($l =~ /\(\s*(?:const\s+)?[A-Za-z_][\w\s]*\**\s*\(\s*\*\s*\)\s*\(/) {
      print "$ARGV:$.: cast to a function-pointer type: ", $l =~ s/^\s+|\s+$//gr, "\n";
    }
    # "(name) expr" or "(name *) expr" where name is a callback type; not
    # "if (x_cb)" / "f (x_cb)", which test or pass a callback
    # "(name) NULL" is no conversion between function types either
    elsif ($l =~ /(?<![\w\s])\s*\(\s*(?:$names)\s*\*?\s*\)\s*(?!NULL\b|0\b)[&\w(]/) {
      print "$ARGV:$.: cast to a callback type: ", $l =~ s/^\s+|\s+$//gr, "\n";
    }
    close ARGV if eof;                      # reset $. per file
  ' "$names")

# ---------------------------------------------------------------- 4. documents
# every file of the tree (tracked or not), out/ and .git aside
mapfile -t tree < <(find . -path ./out -prune -o -path ./.git -prune -o -type f -print | sed 's|^\./||')
declare -A present=() base=()
for p in "${tree[@]}"; do present[$p]=1; base[${p##*/}]=1; done
while IFS=: read -r f line ref; do
  d=$(dirname "$f")
  r=${ref#./}
  [ -n "${present[$r]+x}" ] && continue
  [ -n "${present[$d/$r]+x}" ] && continue
  # a bare name ("CONTRIBUTING.md") that exists somewhere in the tree
  case "$r" in */*) ;; *) [ -n "${base[$r]+x}" ] && continue ;; esac
  violation "doc: $f:$line: names $ref, which is not in the repository"
done < <(find src tests fuzz bench scripts controlplane packaging .ci Makefile \
           -path '*/corpus' -prune -o -path '*/regressions' -prune -o -type f \
           \( -name '*.[ch]' -o -name '*.py' -o -name '*.sh' -o -name '*.md' -o -name Makefile -o -name run \) -print 2>/dev/null |
         sort | xargs grep -n -o -E '[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md\b' 2>/dev/null)
while IFS= read -r hit; do
  violation "doc: $hit: cites a document section"
done < <(grep -rn '§' src 2>/dev/null | cut -d: -f1,2)

# ---------------------------------------------------------------- 5. sleeps
# tests wait on conditions: a sleep in a test's own code (not a container's
# command or a peer's behaviour inside a string) says on its line what it is
# (the poll interval of a wait, a measurement window, a fault instant...)
while IFS= read -r hit; do
  violation "sleep: $hit: a sleep without a comment saying what it is (tests wait on conditions)"
done < <(find tests controlplane/tests -type f \( -name '*.py' -o -name '*.c' -o -name '*.h' -o -name '*.sh' \) -print0 2>/dev/null |
  sort -z | xargs -0 perl -ne '
    my $l = $_;
    next if $l =~ /^\s*"/;                 # inside a C string: a peer or a command
    next if $l =~ /^\s*(#|\/\/|\*)/;       # a comment line
    if ($l =~ /\b(?:time\.sleep|asyncio\.sleep|usleep|nanosleep)\s*\(|^\s*sleep\s+[0-9.]+/ && $l !~ /#|\/\*|\/\//) {
      print "$ARGV:$.\n";
    }
    close ARGV if eof;
  ')

echo "check-tree: $nviol violation(s)"
if [ -n "${TEST_RESULTS:-}" ]; then
  if [ "$nviol" -eq 0 ]; then echo "1 0 0 check-tree"; else echo "0 1 0 check-tree"; fi >>"$TEST_RESULTS"
fi
[ "$nviol" -eq 0 ]

#!/usr/bin/env bash
# check_profile.sh — the heap profile as google-pprof reads it.
#   check_profile.sh PROFILE_SITES [OVERRIDE_SO]
# 1. profile_sites allocates from three call sites in live proportions
#    1 : 2 : 5 and dumps a profile; `google-pprof --text --inuse_space` must
#    show each site with a share within 20% of the truth.
# 2. with OVERRIDE_SO: python3 under LD_PRELOAD, KEEL_PROFILE_SAMPLE=524288
#    and KEEL_PROFILE=file writes a profile at exit that google-pprof reads,
#    about 100 MB allocated, none of it in keel's own frames.
# Ends "check_profile: N passed, M failed". A missing google-pprof fails,
# naming its Debian package.
set -u
prog=$1
override=${2:-}
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "check_profile: FAILED: $*" >&2; }
done_() { echo "check_profile: $passed passed, $failed failed"; [ "$failed" = 0 ]; exit; }

if ! command -v google-pprof >/dev/null 2>&1; then
    bad "google-pprof is not installed; install it with: apt-get install -y google-perftools"
    done_
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. three sites
if "$prog" "$tmp/sites.heap" >"$tmp/sites.out" 2>&1; then ok; else bad "$prog: $(tail -3 "$tmp/sites.out")"; fi
head -1 "$tmp/sites.heap" | grep -Eq '^heap profile: +[0-9]+: +[0-9]+ \[ *[0-9]+: +[0-9]+\] @ heapprofile$' \
    && ok || bad "header: $(head -1 "$tmp/sites.heap")"
grep -q '^MAPPED_LIBRARIES:$' "$tmp/sites.heap" && ok || bad "no MAPPED_LIBRARIES section"
if google-pprof --text --inuse_space "$prog" "$tmp/sites.heap" >"$tmp/sites.txt" 2>"$tmp/sites.err"; then ok
else bad "google-pprof failed: $(tail -3 "$tmp/sites.err")"; fi
# flat column (MB) of each site; shares of their sum against 1/8, 2/8, 5/8
read -r a b g < <(awk '
    $NF == "profile_site_alpha" { a = $1 } $NF == "profile_site_beta" { b = $1 }
    $NF == "profile_site_gamma" { g = $1 }
    END { print a + 0, b + 0, g + 0 }' "$tmp/sites.txt")
verdict=$(awk -v a="$a" -v b="$b" -v g="$g" 'BEGIN {
    t = a + b + g; if (t <= 0) { print "none"; exit }
    split("1 2 5", w, " "); split(a " " b " " g, v, " "); out = ""
    for (i = 1; i <= 3; i++) { want = w[i] / 8; got = v[i] / t
        out = out sprintf("%s%.3f(want %.3f)", i > 1 ? " " : "", got, want)
        if (got < want * 0.8 || got > want * 1.2) bad = 1 }
    print (bad ? "off " : "ok ") out }')
echo "check_profile: site shares: $verdict"
case $verdict in
    ok*) ok ;;
    *) bad "site shares not within 20% of 1:2:5: $verdict"; sed -n 1,12p "$tmp/sites.txt" >&2 ;;
esac
# the sites' stacks go on to main: keel's frames are gone, the program's stay
grep -q ' main$' "$tmp/sites.txt" || google-pprof --text --cum --inuse_space "$prog" "$tmp/sites.heap" 2>/dev/null |
    grep -q ' main$' && ok || bad "main is not on the sites' stacks"
if grep -Eq ' keel_|keel__' "$tmp/sites.txt"; then bad "keel's own frames in the profile: $(grep -E 'keel_' "$tmp/sites.txt" | head -3)"
else ok; fi

# 2. through the override, written at exit
if [ -n "$override" ] && command -v python3 >/dev/null 2>&1; then
    LD_PRELOAD=$override KEEL_PROFILE_SAMPLE=524288 KEEL_PROFILE="$tmp/py.heap" \
        python3 -c 'x = [bytes(1000) for _ in range(100000)]; print(len(x))' >"$tmp/py.out" 2>&1 \
        && ok || bad "python3 under the override: $(tail -3 "$tmp/py.out")"
    head -1 "$tmp/py.heap" 2>/dev/null | grep -q '@ heapprofile$' && ok || bad "no profile written at exit"
    py=$(readlink -f "$(command -v python3)")
    # at exit Python has freed its objects: the allocated space tells more
    if google-pprof --text --alloc_space "$py" "$tmp/py.heap" >"$tmp/py.txt" 2>"$tmp/py.err" &&
        grep -Eq '^ +[0-9.]+ +[0-9.]+%' "$tmp/py.txt"; then ok
    else bad "google-pprof cannot read the override's profile: $(tail -3 "$tmp/py.err")"; fi
    # 100000 blocks of about 1 KB and Python's own: about 100 MB allocated
    total=$(awk '/^Total:/ { print $2 }' "$tmp/py.txt")
    awk -v t="${total:-0}" 'BEGIN { exit !(t > 80 && t < 200) }' && ok || bad "python3's allocated total ${total:-?} MB, not about 100"
    if grep -Eq ' keel_|keel__' "$tmp/py.txt"; then bad "keel's own frames in python3's profile"; else ok; fi
fi
done_

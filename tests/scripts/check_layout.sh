#!/usr/bin/env bash
# check_layout.sh — the layout rules of STYLE.md, checked by grep over the
# source tree: in the library (src/, include/) only vmem.h and src/os/ include
# <sys/mman.h> or <windows.h> and call the OS's virtual-memory functions (tests
# may probe the OS themselves); no .c file anywhere includes another; include/
# holds public headers only, all under include/keel/.
# Usage: check_layout.sh SOURCE_DIR
set -u

name=check_layout
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf '%s: FAIL: %s\n' "$name" "$1" >&2; shift; for l in "$@"; do printf '    %s\n' "$l" >&2; done; }
finish() {
    printf '%s: %d passed, %d failed\n' "$name" "$passed" "$failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
    exit $?
}

if [ $# -ne 1 ] || [ ! -d "$1/include/keel" ] || [ ! -d "$1/src" ]; then
    fail "usage: check_layout.sh SOURCE_DIR (a keel tree with include/keel and src)"
    finish
fi
root=$(cd "$1" && pwd)
cd "$root" || exit 1
if ! command -v perl > /dev/null 2>&1; then
    fail "perl is needed to read the sources without their comments: apt-get install perl"
    finish
fi

# The one unity build file STYLE.md allows to include .c files (none yet).
unity_files=()

# C and C++ sources of the library, relative to the root.
library_files() {
    find src include -type f \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' -o -name '*.inc' \) | LC_ALL=C sort
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-layout.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# strip FILE...: a copy of each file under $tmp/s/ (same relative path) with
# comments and string literals (not #include names) blanked and line numbers
# kept, so a comment or a message that mentions mmap(...) is not a hit. One
# perl for all the files, and below one grep per rule: a process start costs
# tens of milliseconds on a VM kernel whose page faults are slow, and one per
# file made this check take seconds.
strip() {
    [ $# -gt 0 ] || return 0
    perl -e '
        use File::Path qw(make_path);
        my $dir = shift @ARGV;
        for my $f (@ARGV) {
            open(my $in, "<", $f) or die "check_layout: cannot read $f\n";
            local $/; my $t = <$in>; close $in;
            $t =~ s{^([ \t]*#[ \t]*include[ \t]*(?:"[^"\n]*"|<[^>\n]*>))|/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"}{ my $m = $&; defined $1 ? $1 : $m =~ /^"/ ? q("") : ("\n" x ($m =~ tr/\n//)) || " " }gsme;
            (my $d = "$dir/$f") =~ s{/[^/]*$}{};
            make_path($d);
            open(my $out, ">", "$dir/$f") or die "check_layout: cannot write $dir/$f\n";
            print $out $t; close $out;
        }' "$tmp/s" "$@"
}

# grep_code REGEX FILE...: "FILE:LINE: text" for each hit outside comments
# (the files stripped first).
grep_code() {
    local re=$1
    shift
    [ $# -gt 0 ] || return 0
    (cd "$tmp/s" && grep -nHE -- "$re" "$@")
}

os_only() {    # FILE: may it talk to the OS directly?
    case $1 in
        include/keel/vmem.h|src/os/*) return 0 ;;
        *) return 1 ;;
    esac
}

# the library's files that may not talk to the OS; every .c of the tree but
# the unity build file; the files of include/
lib_files=() c_files=() include_files=()
while read -r f; do os_only "$f" || lib_files+=("$f"); done < <(library_files)
while read -r f; do
    for u in "${unity_files[@]}"; do [ "$f" = "$u" ] && continue 2; done
    c_files+=("$f")
done < <(find . \( -path './.git' -o -path './build*' \) -prune -o -type f -name '*.c' -print | sed 's|^\./||' | LC_ALL=C sort)
while read -r f; do include_files+=("$f"); done < <(find include -type f | LC_ALL=C sort)
# each file once: the lists overlap (src/*.c, include/)
mapfile -t all_files < <(printf '%s\n' "${lib_files[@]}" "${c_files[@]}" "${include_files[@]}" | sed '/^$/d' | LC_ALL=C sort -u)
if ! strip "${all_files[@]}"; then
    fail "could not read the sources without their comments"
    finish
fi

# Rule 1: <sys/mman.h> and <windows.h> only in vmem.h and src/os/.
hits=()
while IFS= read -r h; do hits+=("$h"); done < <(grep_code '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]((sys/mman)|([Ww]indows))\.h[>"]' "${lib_files[@]}")
if [ ${#hits[@]} -eq 0 ]; then
    pass
else
    fail "<sys/mman.h> / <windows.h> included outside include/keel/vmem.h and src/os/:" "${hits[@]}"
fi

# Rule 2: the OS's virtual-memory calls only in vmem.h and src/os/.
vm_calls='(^|[^[:alnum:]_])(mmap|mmap64|munmap|mremap|mprotect|madvise|posix_madvise|VirtualAlloc|VirtualAllocEx|VirtualAlloc2|VirtualFree|VirtualFreeEx|VirtualProtect)[[:space:]]*\('
hits=()
while IFS= read -r h; do hits+=("$h"); done < <(grep_code "$vm_calls" "${lib_files[@]}")
if [ ${#hits[@]} -eq 0 ]; then
    pass
else
    fail "mmap/munmap/mprotect/madvise/VirtualAlloc/VirtualFree called outside include/keel/vmem.h and src/os/ (go through vmem.h):" "${hits[@]}"
fi

# Rule 3: no .c file includes another .c file (anywhere in the tree).
hits=()
while IFS= read -r h; do hits+=("$h"); done < <(grep_code '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"][^>"]*\.c[>"]' "${c_files[@]}")
if [ ${#hits[@]} -eq 0 ]; then
    pass
else
    fail ".c file includes another .c file (only one explicit unity build file may):" "${hits[@]}"
fi

# Rule 4: include/ holds public headers only, all in include/keel/.
hits=()
while read -r f; do
    case $f in
        include/keel/*.h|include/keel/*.hpp) ;;
        include/keel/*) hits+=("$f: not a public header (.h or .hpp)") ;;
        *) hits+=("$f: outside include/keel/") ;;
    esac
done < <(find include -type f | LC_ALL=C sort)
if [ ${#hits[@]} -eq 0 ]; then
    pass
else
    fail "include/ must hold only public headers (.h, .hpp), all under include/keel/:" "${hits[@]}"
fi

# Rule 5: a public header never reaches into src/ for an internal header.
hits=()
while IFS= read -r h; do hits+=("$h"); done < <(grep_code '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]*(\.\./)+src/' "${include_files[@]}")
if [ ${#hits[@]} -eq 0 ]; then
    pass
else
    fail "a public header includes an internal header from src/ (public headers must stand alone):" "${hits[@]}"
fi

finish

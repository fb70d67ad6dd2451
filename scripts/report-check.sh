#!/usr/bin/env bash
# The HTML report checked in a real browser: trains a tiny `supcon run`, evaluates it with
# two corruptions, renders `supcon report` in headless Chromium, and fails on
#   - any console message of the page (JS errors, invalid SVG attributes, ...: the report
#     holds no script, so every console line is a defect; Chromium's stderr log does not
#     give the level, so none is allowed),
#   - a missing section, read from the DOM Chromium dumps after rendering: curves,
#     accuracy, reliability, corruptions, embeddings (each with its <svg> plot or table),
#   - a reference to anything outside the page (src/href other than data: or #anchors).
# It saves a screenshot of the page.
#
#   scripts/report-check.sh [OUT_DIR]        # default: target/report-check
#   scripts/report-check.sh --self-test      # proves the checks fail on a broken page
#
# Needs a release build (`cargo build --release`; SUPCON=path/to/supcon overrides) and
# Debian's chromium (`apt-get install -y chromium`; CHROMIUM=... overrides). Nothing is
# downloaded: the browser runs with networking features off and a fresh profile. 10 to 45
# seconds on two cores. Not run in CI (it needs chromium); see the README's "The report in
# a browser".
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CHROMIUM="${CHROMIUM:-chromium}"
SUPCON="${SUPCON:-${CARGO_TARGET_DIR:-$ROOT/target}/release/supcon}"
SECTIONS=(curves accuracy reliability corruptions embeddings)

die() { echo "report-check: FAIL: $*" >&2; exit 1; }

# chromium_run PROFILE_DIR ARGS... : headless Chromium with no network features and a
# fresh profile; stderr (the console log) goes to PROFILE_DIR.log.
chromium_run() {
    local profile="$1"; shift
    rm -rf "$profile"
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --user-data-dir="$profile" --enable-logging=stderr --v=0 \
        --hide-scrollbars "$@" 2>"$profile.log"
}

# check_page HTML WORK : renders HTML, writes WORK/dom.html and WORK/report.png; prints
# every problem found and returns 1 if there is any.
check_page() {
    local html work url problems=0
    html="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
    work="$2"
    url="file://$html"
    mkdir -p "$work"
    chromium_run "$work/profile-dom" --dump-dom "$url" >"$work/dom.html" \
        || { echo "chromium --dump-dom failed (see $work/profile-dom.log)"; return 1; }
    [ -s "$work/dom.html" ] || { echo "chromium dumped an empty DOM"; return 1; }
    # Console messages: lines like `[pid:tid:time:INFO:CONSOLE:12] "message", source: URL (12)`.
    if grep -q ':CONSOLE' "$work/profile-dom.log"; then
        echo "console messages:"
        grep ':CONSOLE' "$work/profile-dom.log" | sed 's/^[^]]*] /  /'
        problems=1
    fi
    for id in "${SECTIONS[@]}"; do
        # The section element, and up to its end a plot or a table.
        if ! grep -q "<section id=\"$id\">" "$work/dom.html"; then
            echo "missing section: $id"
            problems=1
        elif ! tr '\n' ' ' <"$work/dom.html" | grep -o "<section id=\"$id\">.*" \
                | sed 's#</section>.*##' | grep -E '<svg|<table' >/dev/null; then
            echo "section $id holds no plot or table"
            problems=1
        fi
    done
    if grep -Eo '(src|href)="[^"#][^"]*"' "$work/dom.html" | grep -v '="data:' >"$work/external.txt"; then
        echo "references outside the page:"
        sed 's/^/  /' "$work/external.txt"
        problems=1
    fi
    chromium_run "$work/profile-shot" --window-size=1280,6400 \
        --screenshot="$work/report.png" "$url" >/dev/null \
        || { echo "chromium --screenshot failed (see $work/profile-shot.log)"; return 1; }
    [ -s "$work/report.png" ] || { echo "no screenshot"; return 1; }
    return "$problems"
}

command -v "$CHROMIUM" >/dev/null || die "$CHROMIUM not found (apt-get install -y chromium)"

if [ "${1:-}" = "--self-test" ]; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    # Every section present, but a script that throws, and one that logs an error.
    {
        echo '<!doctype html><html><body>'
        for id in "${SECTIONS[@]}"; do echo "<section id=\"$id\"><h2>$id</h2><svg></svg></section>"; done
        echo '<script>console.error("deliberate console.error"); null.boom();</script></body></html>'
    } >"$work/broken.html"
    out="$(check_page "$work/broken.html" "$work/broken" || true)"
    grep -q 'deliberate console.error' <<<"$out" || die "self-test: console.error not caught: $out"
    grep -q 'Uncaught TypeError' <<<"$out" || die "self-test: uncaught exception not caught: $out"
    # No script, but a section missing, one without a plot, and an external image.
    {
        echo '<!doctype html><html><body>'
        for id in curves accuracy reliability; do echo "<section id=\"$id\"><svg></svg></section>"; done
        echo '<section id="corruptions"><p>nothing</p></section><img src="http://example.invalid/x.png"></body></html>'
    } >"$work/partial.html"
    out="$(check_page "$work/partial.html" "$work/partial" || true)"
    grep -q 'missing section: embeddings' <<<"$out" || die "self-test: missing section not caught: $out"
    grep -q 'section corruptions holds no plot' <<<"$out" || die "self-test: empty section not caught: $out"
    grep -q 'example.invalid' <<<"$out" || die "self-test: external reference not caught: $out"
    # And a clean page passes.
    {
        echo '<!doctype html><html><body>'
        for id in "${SECTIONS[@]}"; do echo "<section id=\"$id\"><svg></svg></section>"; done
        echo '</body></html>'
    } >"$work/clean.html"
    out="$(check_page "$work/clean.html" "$work/clean")" || die "self-test: a clean page failed: $out"
    echo "report-check self-test: ok (a thrown error, console.error, a missing or empty section and an external reference are caught; a clean page passes)"
    exit 0
fi

OUT="${1:-$ROOT/target/report-check}"
[ -x "$SUPCON" ] || die "$SUPCON not found: build it with cargo build --release (or set SUPCON)"
rm -rf "$OUT"
mkdir -p "$OUT"
# A tiny run: one epoch of SupCon and of cross-entropy on 256 builtin images, a 5-epoch
# linear probe, then two corruptions at two severities; every report section has data.
"$SUPCON" run --data builtin --limit 256 --test-limit 128 --epochs 1 --batch-size 64 \
    --linear-epochs 5 --quiet --out "$OUT/run" >"$OUT/run.log"
"$SUPCON" eval --model "$OUT/run" --corruptions gaussian_noise,fog --severities 1,3 \
    >"$OUT/eval.log"
"$SUPCON" report "$OUT/run" --out "$OUT/report.html" --quiet >"$OUT/report.log"
if ! problems="$(check_page "$OUT/report.html" "$OUT")"; then
    echo "$problems" >&2
    die "$OUT/report.html (DOM: $OUT/dom.html, console: $OUT/profile-dom.log, screenshot: $OUT/report.png)"
fi
echo "report-check: ok: ${SECTIONS[*]} rendered without a console message; screenshot $OUT/report.png"

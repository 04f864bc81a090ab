#!/usr/bin/env bash
# Installs everything mediaserver needs into ./.venv. Idempotent: a second run with nothing
# changed takes about a second.
#   scripts/install.sh          the server (runtime dependencies)
#   scripts/install.sh --test   also the test peers (ffmpeg, espeak-ng, sipp, chromium) and dev tools
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1
PYTHON="${PYTHON:-python3}"
STAMPS=.stamps
mkdir -p "$STAMPS"

log() { printf '\033[1m[install]\033[0m %s\n' "$*" >&2; }

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    log "apt: installing ${missing[*]}"
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# System libraries: espeak-ng data for pt-BR TTS fallback and test speech; ffmpeg, sipp and
# chromium are real peers for the end-to-end tests only; Asterisk's English prompts (and their
# transcripts) are real human telephony speech for the real-model tests.
if [[ $want_test -eq 1 ]]; then
    apt_install espeak-ng ffmpeg sip-tester chromium asterisk-core-sounds-en-wav asterisk-core-sounds-en
fi

if [[ ! -x .venv/bin/python ]]; then
    log "creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

# torch first, the CPU build: kokoro and silero-vad depend on torch, and if it is missing pip
# resolves it to a CUDA build of several GB.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    log "installing torch (CPU build) first"
    "${PIP[@]}" install "torch==${TORCH_VERSION:-2.13.0}" 2> >(grep -v "^WARNING: Location" >&2)
fi

extras="."
[[ $want_test -eq 1 ]] && extras=".[dev]"
key=$( (cat pyproject.toml; echo "$extras") | sha256sum | cut -c1-16)
if [[ ! -f "$STAMPS/pip-$key" ]]; then
    log "installing mediaserver${extras#.} and its dependencies"
    "${PIP[@]}" install -e "$extras" 2> >(grep -v "^WARNING: Location" >&2)
    # Only librnnoise.so from this wheel is used; its declared deps (matplotlib, audiolab) are not.
    "${PIP[@]}" install --no-deps "pyrnnoise>=0.4" 2> >(grep -v "^WARNING: Location" >&2)
    rm -f "$STAMPS"/pip-*
    touch "$STAMPS/pip-$key"
fi
log "ready: $(.venv/bin/mediaserver --version)"

# Shared by scripts/demo and scripts/test: system packages (apt, as root) and the venv.
# Sourced, not run. Idempotent: a second run installs nothing and takes a second or two.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${EDGE_AGENT_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_install() {
  # apt_install PKG...: install the missing ones when root; otherwise say what is missing.
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "missing system packages (run as root, or: sudo apt-get install ${missing[*]})"
    return 1
  fi
  say "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_venv() {
  # ensure_venv EXTRAS: the venv with the project installed editable, e.g. "cameras,dev"
  local extras="$1"
  local stamp="$VENV/.installed-$extras"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtual environment in $VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  fi
  local other
  for other in "$VENV"/.installed-*; do  # an install with more extras serves too
    [ -f "$other" ] && [ ! "$ROOT/pyproject.toml" -nt "$other" ] || continue
    local have=",${other##*/.installed-}," missing="" extra
    for extra in ${extras//,/ }; do [[ "$have" == *",$extra,"* ]] || missing=1; done
    [ -z "$missing" ] && return 0
  done
  if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    say "installing Python packages ($extras)"
    "$VENV/bin/pip" install -q --only-binary=av,opencv-python-headless,numpy \
      -e "$ROOT[$extras]" >"$VENV/pip.log" 2>&1 || { tail -20 "$VENV/pip.log"; return 1; }
    "$VENV/bin/python" -c "import edge_agent" || { say "pip install failed"; return 1; }
    touch "$stamp"
  fi
}

BASE_PACKAGES=(python3-venv mosquitto mosquitto-clients)
TEST_PACKAGES=(ffmpeg socat iproute2 iptables procps openssl systemd strace util-linux
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  gstreamer1.0-libav chromium chromium-driver postgresql)

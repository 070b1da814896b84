#!/usr/bin/env bash
# Install (or remove) the commune edge agent on Raspberry Pi OS / Debian 12 (arm64, amd64).
#
#   sudo scripts/install.sh                 install or upgrade (idempotent: run it again any time)
#   sudo scripts/install.sh --uninstall     remove the program and the service, keep config + data
#   sudo scripts/install.sh --uninstall --purge    also remove config, data and the user
#
# What it does: apt packages; a Python venv in /opt/edge-agent/venv with the agent; the system
# user 'edge-agent' (groups gpio, dialout, video); /etc/edge-agent/config.yaml from
# config/example.yaml (NEVER over an existing one); /etc/edge-agent/credentials/ (root only,
# handed to the service by systemd); unprivileged ICMP for the service's group (sysctl);
# a udev rule for /dev/gpiochip*; the systemd unit, enabled when systemd runs.
#
# Every location can be moved, for tests or unusual boxes: --prefix, --config-dir, --state-dir,
# --unit-dir, --bin-dir, --sysctl-dir, --udev-dir, --user (or EDGE_AGENT_PREFIX etc.).
# --from WHEEL_OR_DIR installs that instead of this checkout; EDGE_AGENT_PIP_ARGS adds pip
# options (e.g. "--no-index --find-links /media/usb/wheels" on a box without internet).
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${EDGE_AGENT_PREFIX:-/opt/edge-agent}"
CONFIG_DIR="${EDGE_AGENT_CONFIG_DIR:-/etc/edge-agent}"
STATE_DIR="${EDGE_AGENT_STATE_DIR:-/var/lib/edge-agent}"
UNIT_DIR="${EDGE_AGENT_UNIT_DIR:-/etc/systemd/system}"
BIN_DIR="${EDGE_AGENT_BIN_DIR:-/usr/local/bin}"
SYSCTL_DIR="${EDGE_AGENT_SYSCTL_DIR:-/etc/sysctl.d}"
UDEV_DIR="${EDGE_AGENT_UDEV_DIR:-/etc/udev/rules.d}"
PING_RANGE_FILE="${EDGE_AGENT_PING_RANGE_FILE:-/proc/sys/net/ipv4/ping_group_range}"  # tests
SERVICE_USER="${EDGE_AGENT_USER:-edge-agent}"
EXTRAS="${EDGE_AGENT_EXTRAS:-cameras,gpio}"
PIP_ARGS="${EDGE_AGENT_PIP_ARGS:-}"
FROM=""
PYTHON="${PYTHON:-python3}"
DO_APT=1
DO_USER=1
ACTION=install
PURGE=0
GROUPS_WANTED=(gpio dialout video)
# python3-dev + gcc: gpiod has no wheel for every board; mosquitto-clients: troubleshooting
APT_PACKAGES=(python3 python3-venv python3-pip python3-dev gcc ca-certificates
  mosquitto-clients)
MARKER=".edge-agent-install"
UNIT_NAME="edge-agent.service"

if [ -t 1 ]; then
  say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
else
  say() { printf '==> %s\n' "$*"; }
fi
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift ;;
    --config-dir) CONFIG_DIR="$2"; shift ;;
    --state-dir) STATE_DIR="$2"; shift ;;
    --unit-dir) UNIT_DIR="$2"; shift ;;
    --bin-dir) BIN_DIR="$2"; shift ;;
    --sysctl-dir) SYSCTL_DIR="$2"; shift ;;
    --udev-dir) UDEV_DIR="$2"; shift ;;
    --user) SERVICE_USER="$2"; shift ;;
    --extras) EXTRAS="$2"; shift ;;
    --from) FROM="$2"; shift ;;
    --no-apt) DO_APT=0 ;;
    --no-user) DO_USER=0 ;;
    --uninstall) ACTION=uninstall ;;
    --purge) PURGE=1 ;;
    -h|--help) usage 0 ;;
    *) warn "unknown option $1"; usage 2 ;;
  esac
  shift
done

is_root() { [ "$(id -u)" -eq 0 ]; }
systemd_running() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }
group_list() { local IFS=,; echo "$*"; }

# -- pieces -------------------------------------------------------------------------------
install_apt_packages() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then say "system packages: all present"; return; fi
  is_root || die "missing packages ${missing[*]}: run as root (sudo)"
  say "installing system packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

ensure_user() {
  for group in "${GROUPS_WANTED[@]}"; do
    getent group "$group" >/dev/null || { say "creating group $group"; groupadd --system "$group"; }
  done
  if ! getent passwd "$SERVICE_USER" >/dev/null; then
    say "creating system user $SERVICE_USER"
    useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
      --shell /usr/sbin/nologin --comment "commune edge agent" "$SERVICE_USER"
  fi
  usermod -a -G "$(group_list "${GROUPS_WANTED[@]}")" "$SERVICE_USER"
}

owner() {  # owner USER:GROUP for files the service reads, or nothing when not root
  if [ "$DO_USER" -eq 1 ]; then echo "-o root -g $SERVICE_USER"; fi
}

install_venv() {
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "Python 3.11 or newer is needed ($("$PYTHON" --version 2>&1))"
  mkdir -p "$PREFIX"
  touch "$PREFIX/$MARKER"  # --uninstall removes only a prefix carrying this marker
  if [ ! -x "$PREFIX/venv/bin/python" ]; then
    say "creating the virtual environment in $PREFIX/venv"
    "$PYTHON" -m venv "$PREFIX/venv"
  fi
  local target="${FROM:-$SRC}"
  [ -d "$target" ] && target="$target[$EXTRAS]"
  say "installing the agent from ${FROM:-$SRC} (extras: $EXTRAS)"
  # shellcheck disable=SC2086  # PIP_ARGS holds several options on purpose
  "$PREFIX/venv/bin/pip" install --quiet --disable-pip-version-check --upgrade $PIP_ARGS \
    "$target" || die "pip install failed (no internet? use EDGE_AGENT_PIP_ARGS with a wheel dir)"
  mkdir -p "$PREFIX/share" "$PREFIX/docs"
  install -m 0644 "$SRC/config/example.yaml" "$PREFIX/share/example.yaml"
  for doc in "$SRC"/docs/*.md; do [ -e "$doc" ] && install -m 0644 "$doc" "$PREFIX/docs/"; done
  mkdir -p "$BIN_DIR"
  ln -sfn "$PREFIX/venv/bin/edge-agent" "$BIN_DIR/edge-agent"
}

install_config() {
  # shellcheck disable=SC2046
  install -d -m 0750 $(owner) "$CONFIG_DIR"
  if [ -e "$CONFIG_DIR/config.yaml" ]; then
    say "keeping the existing $CONFIG_DIR/config.yaml"
  else
    # shellcheck disable=SC2046
    install -m 0640 $(owner) "$SRC/config/example.yaml" "$CONFIG_DIR/config.yaml"
    # the service may only write to the state dir (ReadWritePaths=): keep the two in step
    sed -i "s#^\(  data_dir: \)/var/lib/edge-agent#\1$STATE_DIR#" "$CONFIG_DIR/config.yaml"
    say "created $CONFIG_DIR/config.yaml from the example: EDIT IT (gateway id, broker...)"
  fi
  install -d -m 0700 "$CONFIG_DIR/credentials"
  local cred="$CONFIG_DIR/credentials"
  if [ ! -e "$cred/http_token" ]; then
    (umask 077; "$PYTHON" -c 'import secrets; print(secrets.token_hex(16), end="")' \
      >"$cred/http_token")
    say "generated the web page token in $cred/http_token"
  fi
  if [ ! -e "$cred/mqtt_password" ]; then
    # empty: a config that uses it is refused with "secret file ... is empty" until filled
    (umask 077; : >"$cred/mqtt_password")
    say "created an empty $cred/mqtt_password: put the broker password in it"
  fi
}

install_state_dir() {
  if [ "$DO_USER" -eq 1 ]; then
    install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE_DIR"
  else
    install -d -m 0750 "$STATE_DIR"
  fi
}

service_gid() {
  if [ "$DO_USER" -eq 1 ]; then getent group "$SERVICE_USER" | cut -d: -f3; else id -g; fi
}

install_ping_sysctl() {
  # Hotspot ICMP probes use unprivileged "ping sockets"; allow them for the service's group
  # only (instead of giving the service CAP_NET_RAW). The kernel knows ONE range of gids:
  #  - our gid is already inside the current range: nothing to change;
  #  - the range is empty (kernel default "1 0"): set exactly "gid gid";
  #  - another range is set (for someone else's group): widening it to reach our gid would
  #    also allow every gid in between, so we leave it and say what the choices are.
  local gid lo hi conf="$SYSCTL_DIR/60-edge-agent-ping.conf"
  gid="$(service_gid)"
  read -r lo hi <"$PING_RANGE_FILE" || { lo=1; hi=0; }
  if [ "$lo" -le "$gid" ] && [ "$gid" -le "$hi" ]; then
    say "unprivileged ICMP already allowed for gid $gid (net.ipv4.ping_group_range $lo $hi)"
    return 0
  fi
  if [ "$lo" -le "$hi" ]; then
    warn "net.ipv4.ping_group_range is '$lo $hi', which does not include the service's gid" \
      "$gid. Not changed: widening it would allow unprivileged ICMP to every gid in" \
      "between. Either set a range you accept (sysctl.d), or give the service" \
      "CAP_NET_RAW (systemctl edit edge-agent: AmbientCapabilities=CAP_NET_RAW and" \
      "CapabilityBoundingSet=CAP_NET_RAW). Until then ICMP probes report this, the" \
      "hotspots' other probes run."
    return 0
  fi
  mkdir -p "$SYSCTL_DIR"
  if ! grep -qs "^net.ipv4.ping_group_range = $gid $gid\$" "$conf"; then
    printf '# edge-agent: unprivileged ICMP echo for hotspot probes (group %s only)\n%s\n' \
      "$SERVICE_USER" "net.ipv4.ping_group_range = $gid $gid" >"$conf"
    say "wrote $conf"
  fi
  if systemd_running && is_root; then
    sysctl -q -p "$conf" || warn "could not apply $conf now (applies at next boot)"
  fi
}

install_udev_rule() {
  mkdir -p "$UDEV_DIR"
  local rule="$UDEV_DIR/60-edge-agent-gpio.rules"
  local text='SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"'
  if [ "$(cat "$rule" 2>/dev/null)" != "$text" ]; then
    printf '%s\n' "$text" >"$rule"
    say "wrote $rule (GPIO chips for the gpio group; Raspberry Pi OS has this already)"
    if systemd_running && command -v udevadm >/dev/null; then
      udevadm control --reload && udevadm trigger --subsystem-match=gpio || true
    fi
  fi
}

render_unit() {
  # --state-dir: ReadWritePaths= follows it; StateDirectory= (relative to /var/lib) only
  # when it is under /var/lib, otherwise the line goes (the directory is made above).
  local state_rule="s#^StateDirectory=edge-agent\$#StateDirectory=${STATE_DIR#/var/lib/}#"
  case "$STATE_DIR" in /var/lib/?*) ;; *) state_rule="/^StateDirectory/d" ;; esac
  sed -e "s#/opt/edge-agent#$PREFIX#g" -e "s#/etc/edge-agent#$CONFIG_DIR#g" \
      -e "s#/var/lib/edge-agent#$STATE_DIR#g" -e "$state_rule" \
      -e "s#^User=edge-agent\$#User=$SERVICE_USER#" \
      -e "s#^Group=edge-agent\$#Group=$SERVICE_USER#" "$SRC/systemd/$UNIT_NAME"
}

render_credentials() {
  # The unit loads mqtt_password and http_token; every other file in credentials/ (e.g. a
  # camera's password) gets its LoadCredential= line here, so the service can read it.
  local file name
  printf '# written by install.sh from the files in %s/credentials; run it again\n' \
    "$CONFIG_DIR"
  printf '# after adding one (a listed file that is missing stops the service).\n[Service]\n'
  for file in "$CONFIG_DIR"/credentials/*; do
    [ -f "$file" ] || continue
    name="$(basename "$file")"
    case "$name" in mqtt_password|http_token) continue ;; esac
    printf 'LoadCredential=%s:%s\n' "$name" "$file"
  done
}

install_unit() {
  mkdir -p "$UNIT_DIR"
  local unit="$UNIT_DIR/$UNIT_NAME" changed=0
  if ! render_unit | cmp -s - "$unit"; then
    render_unit >"$unit"
    chmod 0644 "$unit"
    changed=1
    say "installed $unit"
  fi
  local dropin="$UNIT_DIR/$UNIT_NAME.d/10-credentials.conf"
  if ! render_credentials | cmp -s - "$dropin"; then
    mkdir -p "$UNIT_DIR/$UNIT_NAME.d"
    render_credentials >"$dropin"
    chmod 0644 "$dropin"
    changed=1
    say "wrote $dropin"
  fi
  if ! systemd_running; then
    say "systemd is not running here: the unit is installed but not enabled or started"
    return
  fi
  systemctl daemon-reload
  systemctl enable "$UNIT_NAME" >/dev/null
  if systemctl is-active --quiet "$UNIT_NAME"; then
    say "restarting the running service (upgrade)"
    systemctl restart "$UNIT_NAME"
  else
    say "enabled. Edit $CONFIG_DIR/config.yaml, then: systemctl start edge-agent"
  fi
  [ "$changed" -eq 1 ] || true
}

do_install() {
  if [ "$DO_USER" -eq 1 ] && ! is_root; then
    die "run as root (sudo), or pass --no-user for a test install"
  fi
  [ "$DO_APT" -eq 1 ] && install_apt_packages
  [ "$DO_USER" -eq 1 ] && ensure_user
  install_venv
  install_config
  install_state_dir
  install_ping_sysctl
  install_udev_rule
  install_unit
  "$PREFIX/venv/bin/python" -c 'import edge_agent; print("edge-agent", edge_agent.__version__, "installed")'
  say "check the config with: sudo $BIN_DIR/edge-agent check-config $CONFIG_DIR/config.yaml"
}

do_uninstall() {
  if systemd_running && [ -e "$UNIT_DIR/$UNIT_NAME" ]; then
    systemctl disable --now "$UNIT_NAME" >/dev/null 2>&1 || true
  fi
  rm -f "$UNIT_DIR/$UNIT_NAME" "$UNIT_DIR/$UNIT_NAME.d/10-credentials.conf" \
    "$SYSCTL_DIR/60-edge-agent-ping.conf" \
    "$UDEV_DIR/60-edge-agent-gpio.rules"
  rmdir "$UNIT_DIR/$UNIT_NAME.d" 2>/dev/null || true  # unless someone's drop-ins are there
  systemd_running && systemctl daemon-reload
  if [ -L "$BIN_DIR/edge-agent" ]; then rm -f "$BIN_DIR/edge-agent"; fi
  if [ -e "$PREFIX/$MARKER" ]; then
    rm -rf "${PREFIX:?}"
    say "removed $PREFIX"
  elif [ -e "$PREFIX" ]; then
    warn "$PREFIX has no $MARKER: not removing it"
  fi
  if [ "$PURGE" -eq 1 ]; then
    rm -rf "${CONFIG_DIR:?}" "${STATE_DIR:?}"
    say "removed $CONFIG_DIR and $STATE_DIR"
    if [ "$DO_USER" -eq 1 ] && getent passwd "$SERVICE_USER" >/dev/null; then
      userdel "$SERVICE_USER" && say "removed user $SERVICE_USER"
      getent group "$SERVICE_USER" >/dev/null && groupdel "$SERVICE_USER" 2>/dev/null || true
    fi
  else
    say "kept $CONFIG_DIR, $STATE_DIR and user $SERVICE_USER (--purge removes them)"
  fi
}

# Sourced (tests call single functions): define everything, run nothing.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then return 0; fi
if [ "$ACTION" = uninstall ]; then do_uninstall; else do_install; fi

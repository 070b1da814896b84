"""scripts/install.sh on this Debian machine, into temporary directories, up to the point
where systemd is absent: this test machine (a container) has no running systemd, so the unit
is written and verified but not enabled or started, and the sysctl is written, not applied.

To stay fast and offline the agent is installed from a wheel built from this checkout with
``--no-deps`` (its dependencies are pip's business and are installed for real on a Pi);
set EDGE_AGENT_TEST_FULL_INSTALL=1 to let pip install every dependency from PyPI too.
As root, a real system user (``edge-agent-test``) is created and removed by ``--purge``
(and by a finaliser if a test stops before that); apt is never run (``--no-apt``).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "install.sh"
USER = "edge-agent-test"
IS_ROOT = os.geteuid() == 0
SYSTEMD_RUNNING = Path("/run/systemd/system").is_dir()
FULL = os.environ.get("EDGE_AGENT_TEST_FULL_INSTALL") == "1"
SYSTEM_GROUPS = ("gpio", "dialout", "video")  # install.sh's GROUPS_WANTED

pytestmark = pytest.mark.skipif(SYSTEMD_RUNNING, reason="this box runs systemd: the test "
                                "would enable a real service; run it in a container/CI")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The agent as a wheel, built from a copy of the checkout (keeps the tree clean)."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("edge_agent", "drivers"):
        shutil.copytree(ROOT / package, src / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w",
                    str(work / "dist"), str(src)], check=True, timeout=180)
    return next((work / "dist").glob("commune_edge_agent-*.whl"))


@pytest.fixture(scope="module", autouse=True)
def leaves_no_users_or_groups() -> Iterator[None]:
    """As root the installer creates a real user (and groups missing here, e.g. gpio):
    remove whatever it created, also when a test fails before its --purge step."""
    if not IS_ROOT:
        yield
        return
    had_groups = {g.gr_name for g in grp.getgrall()}
    yield
    if USER in {p.pw_name for p in pwd.getpwall()}:
        subprocess.run(["userdel", USER], check=False, timeout=60)
    for group in [USER, *SYSTEM_GROUPS]:
        if group not in had_groups and group in {g.gr_name for g in grp.getgrall()}:
            subprocess.run(["groupdel", group], check=False, timeout=60)


def layout(tmp: Path) -> dict[str, Path]:
    return {"prefix": tmp / "opt", "config-dir": tmp / "etc", "state-dir": tmp / "var",
            "unit-dir": tmp / "units", "bin-dir": tmp / "bin", "sysctl-dir": tmp / "sysctl",
            "udev-dir": tmp / "udev"}


def run(tmp: Path, wheel: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["bash", str(SCRIPT)]
    for key, path in layout(tmp).items():
        args += [f"--{key}", str(path)]
    # never apt: the test machine's packages are not the test's business (and are there)
    args += ["--user", USER, "--from", str(wheel), "--no-apt"]
    if not IS_ROOT:
        args += ["--no-user"]
    env = {**os.environ, "EDGE_AGENT_PIP_ARGS": "" if FULL else "--no-deps"}
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run([*args, *extra], capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_install_is_idempotent_keeps_the_config_and_uninstalls(
        tmp_path: Path, wheel: Path) -> None:
    paths = layout(tmp_path)
    first = run(tmp_path, wheel)
    assert "systemd is not running here" in first.stdout

    config = paths["config-dir"] / "config.yaml"
    example = (ROOT / "config" / "example.yaml").read_text()
    assert config.read_text() == example.replace(  # the data dir the unit lets it write
        "  data_dir: /var/lib/edge-agent", f"  data_dir: {paths['state-dir']}")
    assert "put the broker password in it" in first.stdout
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    token = paths["config-dir"] / "credentials" / "http_token"
    assert len(token.read_text()) == 32
    assert stat.S_IMODE((paths["config-dir"] / "credentials").stat().st_mode) == 0o700

    venv_python = paths["prefix"] / "venv" / "bin" / "python"
    version = subprocess.run([str(venv_python), "-c", "import edge_agent, drivers; "
                              "print(edge_agent.__version__)"], capture_output=True,
                             text=True, check=True)
    assert version.stdout.strip() == "0.1.0"
    assert (paths["bin-dir"] / "edge-agent").resolve() == \
        (paths["prefix"] / "venv" / "bin" / "edge-agent").resolve()

    unit = paths["unit-dir"] / "edge-agent.service"
    text = unit.read_text()
    assert f"ExecStart={paths['prefix']}/venv/bin/edge-agent run -c {config}" in text
    assert f"User={USER}" in text and "/opt/edge-agent" not in text
    # --state-dir outside /var/lib: writable there, and no StateDirectory= under /var/lib
    assert f"ReadWritePaths={paths['state-dir']}\n" in text and "/var/lib" not in text
    assert "StateDirectory=" not in text
    analyze = shutil.which("systemd-analyze")
    if analyze:  # the file the installer wrote, with its real ExecStart, verifies clean
        check = subprocess.run([analyze, "verify", "--man=no", str(unit)],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0 and not check.stderr.strip(), check.stderr
    lo, hi = (int(v) for v in Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
    if lo > hi:  # nothing allowed on this machine: exactly the service's group is written
        gid = grp.getgrnam(USER).gr_gid if IS_ROOT else os.getgid()
        sysctl = (paths["sysctl-dir"] / "60-edge-agent-ping.conf").read_text()
        assert f"net.ipv4.ping_group_range = {gid} {gid}\n" in sysctl
    assert "gpiochip" in (paths["udev-dir"] / "60-edge-agent-gpio.rules").read_text()

    if IS_ROOT:
        user = pwd.getpwnam(USER)
        assert paths["state-dir"].stat().st_uid == user.pw_uid
        assert config.stat().st_gid == user.pw_gid  # the service can read its config
        groups = subprocess.run(["id", "-nG", USER], capture_output=True, text=True).stdout
        assert {"gpio", "dialout", "video"} <= set(groups.split())

    # a technician edited the config; a second run (upgrade) must not touch it
    config.write_text(config.read_text() + "# edited on site\n")
    unit_mtime, old_token = unit.stat().st_mtime_ns, token.read_text()
    camera_secret = paths["config-dir"] / "credentials" / "camera_market_gate"
    camera_secret.write_text("camera password")  # a technician adds a camera password
    second = run(tmp_path, wheel)
    dropin = (paths["unit-dir"] / "edge-agent.service.d" / "10-credentials.conf").read_text()
    assert f"LoadCredential=camera_market_gate:{camera_secret}\n" in dropin
    assert "mqtt_password" not in dropin.split("[Service]")[1]  # the unit has that one
    assert "keeping the existing" in second.stdout
    assert config.read_text().endswith("# edited on site\n")
    assert token.read_text() == old_token
    assert unit.stat().st_mtime_ns == unit_mtime  # unchanged unit is not rewritten

    run(tmp_path, wheel, "--uninstall")
    assert not paths["prefix"].exists() and not unit.exists()
    assert not (paths["unit-dir"] / "edge-agent.service.d").exists()
    assert not (paths["bin-dir"] / "edge-agent").exists()
    assert config.exists() and paths["state-dir"].exists()  # data and config stay

    run(tmp_path, wheel, "--uninstall", "--purge")
    assert not paths["config-dir"].exists() and not paths["state-dir"].exists()
    if IS_ROOT:
        with pytest.raises(KeyError):
            pwd.getpwnam(USER)


def test_uninstall_refuses_to_delete_a_foreign_prefix(tmp_path: Path, wheel: Path) -> None:
    foreign = tmp_path / "opt"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("not ours")
    result = run(tmp_path, wheel, "--uninstall")
    assert "not removing it" in result.stderr
    assert (foreign / "precious.txt").exists()


def test_the_example_config_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_agent.config import load_config

    for name in ("mqtt_password", "camera_market_gate"):
        (tmp_path / name).write_text("secret")
    (tmp_path / "http_token").write_text("0123456789abcdef0123456789abcdef")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    loaded = load_config(ROOT / "config" / "example.yaml")
    assert loaded.config.http.token is not None
    assert loaded.config.homeassistant.enabled is False
    assert [c.id for c in loaded.config.lighting.circuits] == ["main-road", "market"]


@pytest.mark.parametrize(("current", "expected"), [
    ("1\t0", "4242 4242"),  # kernel default (nobody): exactly the service's group
    ("0\t2147483647", None),  # already allowed (systemd's default): nothing written
    ("4242\t4242", None),
    ("100\t200", None),  # someone else's range: not widened over the gids in between
])
def test_ping_group_range_is_never_widened(tmp_path: Path, current: str,
                                           expected: str | None) -> None:
    """The kernel knows one gid range: widening e.g. '100 200' to reach gid 4242 would allow
    unprivileged ICMP to every gid from 100 to 4242."""
    proc = tmp_path / "ping_group_range"
    proc.write_text(current + "\n")
    script = (f'source "{SCRIPT}"; service_gid() {{ echo 4242; }}; '
              "systemd_running() { return 1; }; install_ping_sysctl")
    env = {**os.environ, "EDGE_AGENT_PING_RANGE_FILE": str(proc),
           "EDGE_AGENT_SYSCTL_DIR": str(tmp_path / "sysctl")}
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env,
                            timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    conf = tmp_path / "sysctl" / "60-edge-agent-ping.conf"
    if expected is None:
        assert not conf.exists()
    else:
        assert f"net.ipv4.ping_group_range = {expected}\n" in conf.read_text()
    if current.startswith("100"):
        assert "Not changed: widening it would allow" in result.stderr

"""OpenWrt ubus JSON-RPC over HTTP (uhttpd-mod-ubus + rpcd): associated wifi clients.

Calls, all ``POST {url}`` with ``{"jsonrpc": "2.0", "id": n, "method": "call",
"params": [session, object, method, args]}``:

- ``session login {username, password}`` with the null session → ``ubus_rpc_session``;
- ``iwinfo devices {}`` → ``{"devices": ["wlan0", ...]}`` (unless radios are configured);
- ``iwinfo info {device}`` → ``{"ssid": ...}``;
- ``iwinfo assoclist {device}`` → ``{"results": [{"mac": ..., "signal": -61, ...}]}``.

A successful reply is ``{"result": [0, {...}]}``; a ubus failure is ``{"result": [code]}``
(6 = permission denied); an unknown or expired session is the JSON-RPC error -32002
"Access denied". Both of the latter make us log in again, once per call.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from drivers.probes.base import ProbeResult, short_error
from drivers.probes.resolve import aiohttp_connector

if TYPE_CHECKING:  # aiohttp costs ~19 MB: loaded only when a probe runs, not with the config
    import aiohttp

NULL_SESSION = "0" * 32
UBUS_STATUS_PERMISSION_DENIED = 6
JSONRPC_ACCESS_DENIED = -32002
UBUS_STATUS = {
    1: "invalid command", 2: "invalid argument", 3: "method not found", 4: "not found",
    5: "no data", 6: "permission denied", 7: "timeout", 8: "not supported",
    9: "unknown error", 10: "connection failed",
}


class UbusProbeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # as StrictModel

    probe: Literal["ubus"] = Field("ubus", description="OpenWrt ubus client counts.")
    name: str | None = Field(None, description="Name in reports; default 'ubus'.")
    url: str = Field(description="ubus endpoint, e.g. http://192.168.10.1/ubus.")
    username: str = Field("root", description="rpcd login user (give it read-only ACLs).")
    password: SecretStr = Field(
        SecretStr(""), description="rpcd login password (use ${ENV_VAR} in the file)."
    )
    radios: list[str] = Field(
        default_factory=list,
        description="Wifi devices to read, e.g. [wlan0, wlan1]; empty = ask 'iwinfo devices'.",
    )
    timeout_s: float = Field(5.0, gt=0, le=60, description="Whole round timeout (s).")


class UbusError(Exception):
    """A ubus call failed or the reply was not what ubus sends."""


class _SessionExpired(UbusError):
    pass


class UbusProbe:
    kind = "ubus"

    def __init__(self, config: UbusProbeConfig) -> None:
        self.config = config
        self.name = config.name or "ubus"
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._ids = itertools.count(1)
        self.logins = 0  # how many times we logged in (tests and diagnostics)

    async def run(self) -> ProbeResult:
        import aiohttp

        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.config.timeout_s):
                per_radio, per_ssid, signal = await self._read_clients()
        except TimeoutError:
            return self._failed(f"no complete answer within {self.config.timeout_s:g} s")
        except UbusError as exc:
            failed = self._failed(str(exc))
            failed.received = 1  # the device answered, just not usefully
            return failed
        except (aiohttp.ClientError, OSError) as exc:
            return self._failed(short_error(exc))
        return ProbeResult(probe=self.name, kind=self.kind, ok=True, sent=1, received=1,
                           latency_ms=(time.perf_counter() - started) * 1000,
                           clients_per_radio=per_radio, clients_per_ssid=per_ssid,
                           signal_dbm=signal)

    def _failed(self, why: str) -> ProbeResult:
        return ProbeResult.failure(self.name, self.kind, f"ubus: {why}")

    async def _read_clients(self) -> tuple[dict[str, int], dict[str, int], dict[str, float]]:
        radios = list(self.config.radios)
        if not radios:
            devices = _field(await self.call("iwinfo", "devices", {}), "devices", list)
            radios = [str(d) for d in devices]
        per_radio: dict[str, int] = {}
        per_ssid: dict[str, int] = {}
        signal: dict[str, float] = {}
        for radio in radios:
            info = await self.call("iwinfo", "info", {"device": radio})
            ssid = str(info.get("ssid") or "?")
            assoc = _field(await self.call("iwinfo", "assoclist", {"device": radio}),
                           "results", list)
            signals = [float(s["signal"]) for s in assoc
                       if isinstance(s, dict) and isinstance(s.get("signal"), int | float)]
            per_radio[radio] = len(assoc)
            per_ssid[ssid] = per_ssid.get(ssid, 0) + len(assoc)
            if signals:
                signal[radio] = round(sum(signals) / len(signals), 1)
        return per_radio, per_ssid, signal

    async def call(self, obj: str, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """One ubus call with the current session; logs in first, and again once if the
        session has expired (rpcd sessions time out after 300 s by default)."""
        if self._token is None:
            await self._login()
        assert self._token is not None
        try:
            return await self._rpc(self._token, obj, method, args)
        except _SessionExpired:
            await self._login()
            assert self._token is not None
            try:
                return await self._rpc(self._token, obj, method, args)
            except _SessionExpired:
                raise UbusError(f"access denied to {obj} {method} right after login: "
                                f"check the rpcd ACL of user {self.config.username!r}") from None

    async def _login(self) -> None:
        self._token = None
        creds = {"username": self.config.username,
                 "password": self.config.password.get_secret_value()}
        try:
            reply = await self._rpc(NULL_SESSION, "session", "login", creds)
        except _SessionExpired:
            raise UbusError(f"login refused for user {self.config.username!r} "
                            "(wrong password?)") from None
        token = reply.get("ubus_rpc_session")
        if not isinstance(token, str) or not token:
            raise UbusError("session login reply has no 'ubus_rpc_session'")
        self._token = token
        self.logins += 1

    async def _rpc(self, session: str, obj: str, method: str,
                   args: dict[str, Any]) -> dict[str, Any]:
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": "call",
                   "params": [session, obj, method, args]}
        async with self._get_session().post(self.config.url, json=request) as resp:
            if resp.status in (401, 403):
                raise _SessionExpired(f"HTTP {resp.status}")
            if resp.status != 200:
                raise UbusError(f"{obj} {method}: HTTP {resp.status}")
            try:
                reply = await resp.json(content_type=None)
            except (ValueError, RecursionError):  # also nesting deeper than the parser goes
                raise UbusError(f"{obj} {method}: reply is not JSON") from None
        return _unwrap(reply, f"{obj} {method}")

    def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp_connector())
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _unwrap(reply: Any, what: str) -> dict[str, Any]:
    """The data of a JSON-RPC reply, or a clear error for anything else."""
    if not isinstance(reply, dict):
        raise UbusError(f"{what}: malformed reply (not a JSON object)")
    error = reply.get("error")
    if error is not None:
        code = error.get("code") if isinstance(error, dict) else None
        if code == JSONRPC_ACCESS_DENIED:
            raise _SessionExpired("access denied")
        message = error.get("message") if isinstance(error, dict) else error
        raise UbusError(f"{what}: JSON-RPC error {code}: {message}")
    result = reply.get("result")
    if not isinstance(result, list) or not result or not isinstance(result[0], int):
        raise UbusError(f"{what}: malformed reply (no [status, data] result)")
    status = result[0]
    if status == UBUS_STATUS_PERMISSION_DENIED:
        raise _SessionExpired("permission denied")
    if status != 0:
        raise UbusError(f"{what}: ubus status {status} ({UBUS_STATUS.get(status, 'unknown')})")
    data = result[1] if len(result) > 1 else {}
    if not isinstance(data, dict):
        raise UbusError(f"{what}: malformed reply (data is not an object)")
    return data


def _field(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise UbusError(f"malformed reply: '{key}' missing or not a {kind.__name__}")
    return value

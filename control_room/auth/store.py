"""Users, sessions and the audit log in the store (async SQLAlchemy Core)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from control_room.auth import passwords
from control_room.auth import schema as a
from control_room.auth.roles import ROLES
from control_room.console.i18n import N_

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
LAST_SEEN_EVERY_S = 60.0  # a session's last use is written at most this often


class UserError(ValueError):
    """Bad input for a user change: an English line with ``%(name)s`` fields, translated
    where it is shown (the console) and printed as is by the CLI."""

    def __init__(self, msgid: str, **params: Any) -> None:
        self.msgid, self.params = msgid, params
        super().__init__(msgid % params)

    def translated(self, gettext: Any) -> str:
        return str(gettext(self.msgid) % self.params)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf: str
    id_hash: str


def _check(name: str, role: str | None) -> None:
    if not NAME.match(name):
        raise UserError(N_("User name %(name)s: 2 to 64 of a-z 0-9 . _ - (no spaces), "
                           "starting with a letter or digit"), name=name)
    if role is not None and role not in ROLES:
        raise UserError(N_("Role %(role)s: one of %(roles)s"), role=role,
                        roles=", ".join(ROLES))


def _hashed(password: str) -> str:
    if len(password) < passwords.MIN_LENGTH:
        raise UserError(N_("A password needs at least %(count)d characters"),
                        count=passwords.MIN_LENGTH)
    return passwords.hash_password(password)


async def add_user(db: AsyncEngine, name: str, role: str, password: str, now: float) -> None:
    _check(name, role)
    hashed = _hashed(password)
    async with db.begin() as conn:
        if await conn.scalar(select(a.users.c.name).where(a.users.c.name == name)):
            raise UserError(N_("User %(name)s exists already"), name=name)
        await conn.execute(a.users.insert().values(name=name, role=role, password_hash=hashed,
                                                   created_at=now, password_changed_at=now))


async def set_password(db: AsyncEngine, name: str, password: str, now: float) -> None:
    hashed = _hashed(password)
    async with db.begin() as conn:
        done = await conn.execute(update(a.users).where(a.users.c.name == name)
                                  .values(password_hash=hashed, password_changed_at=now))
        if not done.rowcount:
            raise UserError(N_("No user %(name)s"), name=name)
        # a new password ends every login of that user
        await conn.execute(delete(a.sessions).where(a.sessions.c.user == name))


async def set_role(db: AsyncEngine, name: str, role: str) -> None:
    _check(name, role)
    async with db.begin() as conn:
        done = await conn.execute(update(a.users).where(a.users.c.name == name)
                                  .values(role=role))
        if not done.rowcount:
            raise UserError(N_("No user %(name)s"), name=name)


async def set_language(db: AsyncEngine, name: str, language: str) -> None:
    async with db.begin() as conn:
        await conn.execute(update(a.users).where(a.users.c.name == name)
                           .values(language=language))


async def remove_user(db: AsyncEngine, name: str) -> None:
    async with db.begin() as conn:
        done = await conn.execute(delete(a.users).where(a.users.c.name == name))
        if not done.rowcount:
            raise UserError(N_("No user %(name)s"), name=name)
        await conn.execute(delete(a.sessions).where(a.sessions.c.user == name))


async def new_api_token(db: AsyncEngine, name: str) -> str:
    """A new API token for ``name`` (the old one stops working); shown once."""
    token = passwords.new_token()
    async with db.begin() as conn:
        done = await conn.execute(update(a.users).where(a.users.c.name == name)
                                  .values(api_token_hash=passwords.token_hash(token)))
        if not done.rowcount:
            raise UserError(N_("No user %(name)s"), name=name)
    return token


async def list_users(conn: AsyncConnection) -> list[dict[str, Any]]:
    query = select(a.users.c.name, a.users.c.role, a.users.c.language, a.users.c.created_at,
                   a.users.c.password_changed_at,
                   a.users.c.api_token_hash.is_not(None).label("has_token")) \
        .order_by(a.users.c.name)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def count_users(conn: AsyncConnection) -> int:
    return int(await conn.scalar(select(func.count()).select_from(a.users)) or 0)


async def check_password(db: AsyncEngine, name: str, password: str) -> User | None:
    async with db.connect() as conn:
        row = (await conn.execute(select(a.users).where(a.users.c.name == name))) \
            .mappings().first()
    # verify even for an unknown name: the answer takes as long either way
    ok = passwords.verify(row["password_hash"] if row else None, password)
    if not ok or row is None:
        return None
    return User(row["name"], row["role"], row["language"])


async def user_by_token(db: AsyncEngine, token: str) -> User | None:
    async with db.connect() as conn:
        row = (await conn.execute(select(a.users).where(
            a.users.c.api_token_hash == passwords.token_hash(token)))).mappings().first()
    return User(row["name"], row["role"], row["language"]) if row else None


async def open_session(db: AsyncEngine, user: User, now: float, lifetime_s: float,
                       address: str | None) -> str:
    """A new session; returns the cookie value (only its hash is stored)."""
    cookie = secrets.token_urlsafe(32)
    async with db.begin() as conn:
        await conn.execute(delete(a.sessions).where(a.sessions.c.expires_at < now))
        await conn.execute(a.sessions.insert().values(
            id_hash=passwords.token_hash(cookie), user=user.name,
            csrf=secrets.token_urlsafe(24), created_at=now, last_seen=now,
            expires_at=now + lifetime_s, address=(address or "")[:64]))
    return cookie


async def session(db: AsyncEngine, cookie: str, now: float, lifetime_s: float
                  ) -> Session | None:
    """The live session of a cookie; its expiry slides with use."""
    id_hash = passwords.token_hash(cookie)
    query = select(a.sessions.c.csrf, a.sessions.c.last_seen, a.sessions.c.expires_at,
                   a.users.c.name, a.users.c.role, a.users.c.language) \
        .join(a.users, a.users.c.name == a.sessions.c.user) \
        .where(a.sessions.c.id_hash == id_hash)
    async with db.connect() as conn:
        row = (await conn.execute(query)).mappings().first()
    if row is None or row["expires_at"] < now:
        return None
    if now - row["last_seen"] > LAST_SEEN_EVERY_S:
        async with db.begin() as conn:
            await conn.execute(update(a.sessions).where(a.sessions.c.id_hash == id_hash)
                               .values(last_seen=now, expires_at=now + lifetime_s))
    return Session(User(row["name"], row["role"], row["language"]), row["csrf"], id_hash)


async def close_session(db: AsyncEngine, id_hash: str) -> None:
    async with db.begin() as conn:
        await conn.execute(delete(a.sessions).where(a.sessions.c.id_hash == id_hash))


async def audit(db: AsyncEngine, now: float, actor: str, action: str, target: str | None,
                ok: bool, detail: dict[str, Any] | None = None,
                address: str | None = None) -> None:
    async with db.begin() as conn:
        await conn.execute(a.audit_log.insert().values(
            at=now, actor=actor[:64], action=action[:64], target=(target or "")[:300] or None,
            ok=ok, detail=detail, address=(address or "")[:64] or None))


async def audit_rows(conn: AsyncConnection, limit: int = 200, actor: str | None = None,
                     before_id: int | None = None) -> list[dict[str, Any]]:
    query = select(a.audit_log).order_by(a.audit_log.c.id.desc()).limit(limit)
    if actor:
        query = query.where(a.audit_log.c.actor == actor)
    if before_id:
        query = query.where(a.audit_log.c.id < before_id)
    return [dict(r) for r in (await conn.execute(query)).mappings()]



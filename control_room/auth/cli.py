"""``control-room user add|passwd|remove|list|token``: manage console users directly in the
store named by the config (migrating it first), so the first administrator can be made
before the service runs."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from control_room.auth import store
from control_room.auth.roles import ROLES


def add_commands(sub: Any, load: Callable[[Path], Any]) -> None:
    user = sub.add_parser("user", help="console users: add, passwd, remove, list, token")
    user.add_argument("-c", "--config", type=Path, default=argparse.SUPPRESS)
    ops = user.add_subparsers(dest="user_op", required=True)
    add = ops.add_parser("add", help="add a user (asks for the password)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    passwd = ops.add_parser("passwd", help="set a user's password (ends their logins)")
    passwd.add_argument("name")
    for p in (add, passwd):
        p.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of stdin")
    ops.add_parser("remove", help="remove a user").add_argument("name")
    ops.add_parser("list", help="list the users")
    ops.add_parser("token", help="issue a new API token for a user (printed once)") \
        .add_argument("name")
    user.set_defaults(func=lambda args: run(args, load))


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise store.UserError("the two passwords differ")
    return first


def run(args: argparse.Namespace, load: Callable[[Path], Any]) -> int:
    config = load(args.config)
    if config is None:
        return 1
    try:
        password = _password(args) if args.user_op in ("add", "passwd") else ""
        return asyncio.run(_run(config, args, password))
    except store.UserError as exc:
        print(f"control-room: {exc}", file=sys.stderr)
        return 1


async def _run(config: Any, args: argparse.Namespace, password: str) -> int:
    from control_room.store.db import create_engine, migrate

    db = create_engine(config.database)
    try:
        await migrate(db)
        actions: dict[str, Callable[[], Coroutine[Any, Any, Any]]] = {
            "add": lambda: store.add_user(db, args.name, args.role, password, time.time()),
            "passwd": lambda: store.set_password(db, args.name, password, time.time()),
            "remove": lambda: store.remove_user(db, args.name),
            "token": lambda: store.new_api_token(db, args.name),
        }
        if args.user_op == "list":
            async with db.connect() as conn:
                for row in await store.list_users(conn):
                    print(f"{row['name']:20} {row['role']:9} "
                          f"{'api-token' if row['has_token'] else ''}")
            return 0
        result = await actions[args.user_op]()
        if args.user_op == "token":
            print(result)
        actor = getpass.getuser()
        await store.audit(db, time.time(), f"cli:{actor}", f"user_{args.user_op}",
                          args.name, True, {"role": getattr(args, "role", None)})
        if args.user_op != "token":
            print(f"user {args.name}: {args.user_op} done")
        return 0
    finally:
        await db.dispose()

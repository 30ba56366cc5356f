"""`callqa users add NAME --role admin|supervisor|trainer [--team T ...] --store DIR [--password-stdin]`,
`callqa users add NAME --role operator --operator-id ID --store DIR` (sees only that operator's calls),
`callqa users list --store DIR`, `callqa users passwd NAME --store DIR`, `callqa users remove NAME --store DIR`,
`callqa users disable|enable NAME --store DIR`. Users live in DIR/users.json (Argon2 hashes)."""

from __future__ import annotations

import argparse
import getpass
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    add = sub.add_parser("add", help="add a user (password from a prompt or --password-stdin)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", required=True, choices=("admin", "supervisor", "trainer", "operator"))
    add.add_argument("--team", action="append", default=[], metavar="TEAM",
                     help="a team the supervisor reviews (repeat for several)")
    add.add_argument("--operator-id", default=None, metavar="ID",
                     help="operators: the operator id of their calls (they see only those)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--replace", action="store_true", help="replace an existing user of that name")
    lst = sub.add_parser("list", help="list users")
    pw = sub.add_parser("passwd", help="set a user's password (ends their sessions)")
    pw.add_argument("name", metavar="NAME")
    pw.add_argument("--password-stdin", action="store_true")
    rm = sub.add_parser("remove", help="remove a user")
    rm.add_argument("name", metavar="NAME")
    teams = sub.add_parser("teams", help="set a user's teams")
    teams.add_argument("name", metavar="NAME")
    teams.add_argument("--team", action="append", default=[], metavar="TEAM", required=True)
    dis = sub.add_parser("disable", help="disable a user (keeps the account)")
    dis.add_argument("name", metavar="NAME")
    ena = sub.add_parser("enable", help="enable a disabled user")
    ena.add_argument("name", metavar="NAME")
    for sp in (p, add, lst, pw, rm, teams, dis, ena):
        sp.add_argument("--store", default=argparse.SUPPRESS if sp is not p else None, metavar="DIR",
                        help="the callqa store (default: callqa batch's, data/store or $CALLQA_DATA_DIR/store)")


def _password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        print("callqa users: no terminal to ask for the password; use --password-stdin", file=sys.stderr)
        return None
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        print("callqa users: the passwords differ", file=sys.stderr)
        return None
    return first


def run(args: argparse.Namespace) -> int:
    from callqa.users import UserDB

    from callqa.commands.batch import default_store

    db = UserDB(args.store if args.store else default_store())
    if args.action == "add":
        password = _password(args)
        if password is None:
            return 2
        user = db.add(args.name, args.role, password, args.team, replace_existing=args.replace,
                      operator_id=args.operator_id)
        teams = f" (teams: {', '.join(user.teams)})" if user.teams else ""
        own = f" (operator id: {user.operator_id})" if user.operator_id else ""
        print(f"added {user.role} {user.name}{teams}{own} to {db.path}")
        return 0
    if args.action == "passwd":
        password = _password(args)
        if password is None:
            return 2
        db.update(args.name, password=password)
        print(f"password of {args.name} changed")
        return 0
    if args.action == "remove":
        db.remove(args.name)
        print(f"removed {args.name}")
        return 0
    if args.action == "teams":
        user = db.update(args.name, teams=args.team)
        print(f"{user.name}: teams {', '.join(user.teams) or '-'}")
        return 0
    if args.action in ("disable", "enable"):
        db.update(args.name, disabled=args.action == "disable")
        print(f"{args.name}: {args.action}d")
        return 0
    if args.action in (None, "list"):
        users = db.list()
        if not users:
            print(f"no users in {db.path}")
        for u in users:
            state = " (disabled)" if u.disabled else ""
            scope = f"operator {u.operator_id}" if u.role == "operator" else (",".join(u.teams) or "-")
            print(f"{u.name}\t{u.role}\t{scope}{state}")
        return 0
    return 2

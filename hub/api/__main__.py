"""``python -m hub.api new-token --name N --role R`` and ``python -m hub.api hash-token``: token setup helpers."""

from __future__ import annotations

import argparse
import getpass
import sys

import yaml

from hub.api.auth import Role, hash_token, new_token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hub.api", description="Token setup for the operator API (docs/api.md)."
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    new = sub.add_parser("new-token", help="make a random token; print it once and the config entry to add")
    new.add_argument("--name", required=True, help="who holds it (recorded in the audit trail)")
    new.add_argument("--role", required=True, choices=[r.value for r in Role])
    sub.add_parser("hash-token", help="read a token from stdin (or a prompt) and print its token_sha256")
    args = parser.parse_args(argv)
    if args.cmd == "new-token":
        token = new_token()
        entry = {"name": args.name, "role": args.role, "token_sha256": hash_token(token)}
        print(f"token (give it to {args.name}; it is not stored anywhere): {token}", file=sys.stderr)
        print(yaml.safe_dump({"api": {"tokens": [entry]}}, allow_unicode=True, sort_keys=False), end="")
        return 0
    token = getpass.getpass("token: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    if not token:
        print("no token given", file=sys.stderr)
        return 2
    print(hash_token(token))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``infant-stream keys``: create a CURVE key pair for encrypted ZeroMQ publishing."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pipeline.publish.curve import create_keypair


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "keys",
        help="create CURVE key pairs for encrypted ZeroMQ publishing",
        description="Create NAME.key (public) and NAME.key_secret (private) in OUTDIR.",
    )
    p.add_argument("outdir", help="folder for the key files (created if missing)")
    p.add_argument("--name", default="server", help="file name stem (default server)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    public, secret = create_keypair(args.outdir, args.name)
    print(f"public key: {public}\nsecret key: {secret} (keep it private)", file=sys.stdout, flush=True)
    return 0

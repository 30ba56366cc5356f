"""`callqa serve [--store DIR] [--host 127.0.0.1] [--port 8000] [--config FILE]`: the
supervisor web app (uvicorn). Users: `callqa users add NAME --role ... --store DIR`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", metavar="DIR",
                   help="the callqa store (default: callqa batch's, data/store or $CALLQA_DATA_DIR/store)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--config", metavar="FILE", help="YAML deep-merged over the defaults in configs/")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from callqa.pipeline.config import load_config
    from callqa.pipeline.store.db import Store
    from callqa.users import UserDB
    from callqa.web.app import create_app

    from callqa.commands.batch import default_store

    store_dir = Path(args.store) if args.store else default_store()
    if not (store_dir / "callqa.duckdb").is_file():
        print(f"callqa serve: {store_dir}: no callqa store here (run `callqa batch INBOX --store {store_dir}` first)",
              file=sys.stderr)
        return 2
    if not UserDB(store_dir).list():
        print(f"callqa serve: {store_dir}: no users yet; add one with\n"
              f"  callqa users add NAME --role admin --store {store_dir}", file=sys.stderr)
        return 2
    config = load_config(args.config)
    app = create_app(Store(store_dir).path, config)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("callqa serve: listening beyond this machine; put it behind HTTPS and set web.secure_cookies: true",
              file=sys.stderr)
    print(f"callqa serve: http://{args.host}:{args.port}/  (store {store_dir})", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, proxy_headers=False,
                server_header=False)
    return 0

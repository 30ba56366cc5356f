"""Serve the nightly flow on a cron schedule (a long-running process; Ctrl-C stops it):

    python -m callqa.flows.deploy --inbox /srv/calls/inbox --store /srv/calls/store \\
        [--cron "0 2 * * *"] [--timezone Europe/Moscow] [--config customer.yaml] \\
        [--workers N | --dask-address tcp://scheduler:8786]

For work-pool deployments (a Prefect worker picks the runs up) see `prefect.yaml`
in the project root. docs/nightly.md, "Running nightly", walks through both.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_CRON = "0 2 * * *"  # 02:00 every night
DEPLOYMENT_NAME = "nightly"


def local_timezone() -> str:
    """The machine's IANA timezone name (from /etc/localtime), else UTC."""
    try:
        target = Path("/etc/localtime").resolve()
        parts = target.parts
        if "zoneinfo" in parts:
            return "/".join(parts[parts.index("zoneinfo") + 1:])
    except OSError:
        pass
    return "UTC"


def check_schedule(cron: str, timezone: str) -> None:
    """Raise ValueError naming the bad cron expression or timezone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {timezone!r} (use an IANA name such as Europe/Moscow)") from None
    from prefect.schedules import Cron

    Cron(cron, timezone=timezone)  # raises ValueError("Invalid cron string ...")


def build_deployment(inbox: str | list[str], store: str, *, config: str | None = None, cron: str = DEFAULT_CRON,
                     timezone: str | None = None, workers: int = 1, dask_address: str | None = None,
                     name: str = DEPLOYMENT_NAME) -> Any:
    """The nightly flow as a Prefect deployment with a cron schedule (not yet served)."""
    from prefect.schedules import Cron

    from callqa.flows.nightly import nightly_batch

    tz = timezone or local_timezone()
    check_schedule(cron, tz)
    parameters = {"inbox": inbox, "store": store, "config": config, "workers": workers,
                  "dask_address": dask_address, "wait_for_lock": True}
    return nightly_batch.to_deployment(
        name=name, schedules=[Cron(cron, timezone=tz)], parameters=parameters, tags=["callqa", "nightly"],
        description=f"callqa nightly batch: {inbox} -> {store} at '{cron}' ({tz})")


def main(argv: list[str] | None = None) -> int:
    from callqa.commands.batch import prepare_prefect_env

    p = argparse.ArgumentParser(prog="python -m callqa.flows.deploy", description=__doc__.splitlines()[0])
    p.add_argument("--inbox", required=True, action="append", metavar="DIR", help="inbox folder (repeatable)")
    p.add_argument("--store", required=True, metavar="DIR", help="the store directory")
    p.add_argument("--config", metavar="FILE", help="customer YAML deep-merged over configs/")
    p.add_argument("--cron", default=DEFAULT_CRON, help=f"when to run (default: '{DEFAULT_CRON}', 02:00)")
    p.add_argument("--timezone", help="IANA timezone of the schedule, e.g. Europe/Moscow (default: this machine's)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="local Dask cluster of N processes if > 1")
    p.add_argument("--dask-address", metavar="tcp://HOST:PORT", help="an existing Dask cluster")
    p.add_argument("--name", default=DEPLOYMENT_NAME, help="deployment name")
    p.add_argument("--verbose", action="store_true", help="show Prefect's logs")
    args = p.parse_args(argv)
    prepare_prefect_env(verbose=True)
    from callqa.pipeline.config import load_config
    from callqa.pipeline.errors import CallqaError

    try:
        load_config(args.config)
    except CallqaError as e:
        print(f"callqa deploy: error: {e}", file=sys.stderr)
        return 2
    for inbox in args.inbox:
        if not Path(inbox).is_dir():
            print(f"callqa deploy: error: {inbox}: inbox is not a directory", file=sys.stderr)
            return 2
    try:
        deployment = build_deployment([str(Path(i).resolve()) for i in args.inbox], str(Path(args.store).resolve()),
                                      config=None if args.config is None else str(Path(args.config).resolve()),
                                      cron=args.cron, timezone=args.timezone, workers=args.workers,
                                      dask_address=args.dask_address, name=args.name)
    except ValueError as e:
        print(f"callqa deploy: error: {e}", file=sys.stderr)
        return 2
    from prefect import serve

    serve(deployment)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`byoc logs`, `attach` and `jobs`: re-join the jobs byoc started after it stopped waiting."""

from __future__ import annotations

import argparse
import sys

from byoc.cli.aws_flags import add_aws_verb, add_timeout, connect_from, duration
from byoc.cli.types import positive_int
from byoc.driver import job_listing, rejoin, train_and_tune
from byoc.driver.waiting import WaitTimeout


def _kind(args: argparse.Namespace) -> str | None:
    return rejoin.KINDS[args.kind] if args.kind else None


def cmd_logs(args: argparse.Namespace) -> int:
    try:
        found = rejoin.print_logs(connect_from(args), args.job, kind=_kind(args),
                                  trial=args.trial, follow=args.follow, timeout=args.timeout)
    except WaitTimeout as exc:
        print(f"{exc} Run byoc logs {args.job} --follow again to go on.", file=sys.stderr)
        return 1
    for note in found.notes:
        print(note, file=sys.stderr)
    if args.follow:
        print(f"{found.kind} {found.job_name}: {found.status}", file=sys.stderr)
    return 0


def cmd_attach(args: argparse.Namespace) -> int:
    try:
        attached = rejoin.attach(connect_from(args), args.job, timeout=args.timeout,
                                 download=args.download)
    except WaitTimeout as exc:
        print(f"{exc} It ends by itself within its limit; run byoc attach {args.job} again, "
              f"or stop it: byoc stop --training-job {args.job}", file=sys.stderr)
        return 1
    for line in attached.lines():
        print(line)
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    listing = job_listing.list_jobs(connect_from(args), kind=_kind(args), status=args.status,
                                    max_jobs=args.max)
    for line in listing.lines():
        print(line)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """`byoc logs`, `attach` and `jobs`, listed after `byoc stop`."""
    kinds = tuple(rejoin.KINDS)
    p = add_aws_verb(subparsers, "logs", cmd_logs,
                     help="print a job's CloudWatch log lines (--follow: until it ends)")
    p.add_argument("job", metavar="JOB", help="the job's name")
    p.add_argument("--kind", choices=kinds,
                   help="the job's kind (default: whichever kind has a job of that name)")
    p.add_argument("--trial", metavar="NAME",
                   help="for a tuning job: this training job of it (default: the best)")
    p.add_argument("--follow", action="store_true",
                   help="keep printing new lines until the job ends")
    add_timeout(p, "when the job ends", "with --follow: stop after this long")

    p = add_aws_verb(subparsers, "attach", cmd_attach,
                     help="re-join a training job: follow it if it runs, then print its "
                          "status, metrics and artifacts")
    p.add_argument("job", metavar="JOB", help="the training job's name")
    p.add_argument("--download", metavar="DIR",
                   help="a new or empty directory to unpack output.tar.gz into (default: the "
                        "metrics are read and not kept)")
    add_timeout(p, f"its --max-run, or --max-wait, + {duration(train_and_tune.WAIT_MARGIN)}",
                "stop waiting for a running job after this long; it keeps running")

    p = add_aws_verb(subparsers, "jobs", cmd_jobs,
                     help="list the newest jobs byoc started, of every kind")
    p.add_argument("--kind", choices=kinds, help="only jobs of this kind")
    p.add_argument("--status", choices=job_listing.STATUSES, help="only jobs with this status")
    p.add_argument("--max", type=positive_int, default=job_listing.DEFAULT_MAX_JOBS,
                   metavar="N", help=f"at most N jobs (1-{job_listing.MAX_JOBS}, default "
                                     f"{job_listing.DEFAULT_MAX_JOBS}); byoc checks the newest N "
                                     "of each kind")

#!/usr/bin/env python3
"""The seed guide's nightly backup job, pushed to Pushkeep (or any Pushgateway).

Pushes four gauges under job="nightly_backup", instance="database-01":
backup_success, backup_duration_seconds, backup_size_bytes, backup_last_timestamp.

Environment (flags override it):
  PUSHGATEWAY     gateway address, host:port or URL (default localhost:9091)
  BACKUP_OUTCOME  success | failure | random (default random, 80% success)
  BACKUP_SECONDS  simulated duration in seconds (default random between 1 and 3)

    python3 nightly_backup.py --outcome failure --seconds 0
"""
import argparse
import logging
import os
import random
import time

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default=os.environ.get("PUSHGATEWAY", "localhost:9091"))
    parser.add_argument("--outcome", choices=["success", "failure", "random"],
                        default=os.environ.get("BACKUP_OUTCOME", "random"))
    seconds = os.environ.get("BACKUP_SECONDS")
    parser.add_argument("--seconds", type=float, default=float(seconds) if seconds else None)
    return parser.parse_args()


def perform_backup(outcome, seconds):
    # Simulate backup process; the arguments exist so tests get the same answer every time.
    start_time = time.time()
    time.sleep(seconds if seconds is not None else random.uniform(1, 3))
    success = {"success": True, "failure": False}.get(outcome, random.random() > 0.2)
    end_time = time.time()
    return success, end_time - start_time


def main():
    args = parse_args()

    # Create a registry
    registry = CollectorRegistry()

    # Create metrics
    backup_success = Gauge('backup_success',
                           'Whether the backup succeeded (1 for success, 0 for failure)',
                           registry=registry)
    backup_duration = Gauge('backup_duration_seconds',
                            'Time taken to perform backup',
                            registry=registry)
    backup_size = Gauge('backup_size_bytes',
                        'Size of the backup in bytes',
                        registry=registry)
    backup_last_timestamp = Gauge('backup_last_timestamp',
                                  'Unix timestamp of the last backup attempt',
                                  registry=registry)

    # Run the backup
    success, duration = perform_backup(args.outcome, args.seconds)

    # Set metric values
    backup_success.set(1 if success else 0)
    backup_duration.set(duration)
    if success:
        backup_size.set(random.randint(1000000, 5000000))  # Simulate backup size
    backup_last_timestamp.set(time.time())

    # Push to gateway with job and instance labels. A push that fails is logged, not fatal:
    # the backup itself must not fail because monitoring is down.
    try:
        push_to_gateway(args.gateway,
                        job='nightly_backup',
                        registry=registry,
                        grouping_key={'instance': 'database-01'})
    except Exception as e:  # noqa: BLE001 - any transport error is reported the same way
        logging.error(f"Failed to push metrics: {e}")

    print(f"Backup {'succeeded' if success else 'failed'} in {duration:.2f} seconds")


if __name__ == "__main__":
    main()

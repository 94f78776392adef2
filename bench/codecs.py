"""Decode and map a Harvest time-entry page of 2,000 entries into canonical TimeEntry structs.

Baseline, in the same run: plain ``msgspec.json.decode`` of the same page into dicts (no
validation, no mapping): the floor any Python consumer of the page pays. Target: the full
decode + validate + map reaches at least 50 % of the baseline's entries per second.

    .venv/bin/python bench/codecs.py [--quick] [--entries 2000] [--rounds 30]

`--quick` times 5 rounds instead of 30 (the same page, the same work per round).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable

import msgspec
from _machine import machine  # a bench/ sibling

from mediator.codecs.harvest import time_entries_from_harvest


def harvest_page(entries: int, seed: int) -> bytes:
    """Return a ``GET /v2/time_entries`` page shaped like Harvest's (every documented field)."""
    rng = random.Random(seed)
    rows = []
    for index in range(entries):
        entry_id = 636_000_000 + index
        user = rng.randrange(1_782_000, 1_782_040)
        project = rng.randrange(14_300_000, 14_300_030)
        hours = round(rng.uniform(0.25, 9.0), 2)
        approved = rng.random() < 0.8
        stamp = f"2026-10-{1 + index % 28:02d}T1{index % 10}:4{index % 10}:22Z"
        rows.append(
            {
                "id": entry_id,
                "spent_date": f"2026-10-{1 + index % 28:02d}",
                "user": {"id": user, "name": f"Consultant {user}"},
                "client": {"id": 5_735_776, "name": "123 Industries", "currency": "EUR"},
                "project": {"id": project, "name": f"Project {project}", "code": f"P{project}"},
                "task": {"id": 8_083_365, "name": "Development"},
                "user_assignment": {
                    "id": 125_068_553 + user,
                    "is_project_manager": False,
                    "is_active": True,
                    "budget": None,
                    "created_at": "2026-06-26T22:32:52Z",
                    "updated_at": "2026-06-26T22:32:52Z",
                    "hourly_rate": 180.0,
                },
                "task_assignment": {
                    "id": 155_502_709,
                    "billable": True,
                    "is_active": True,
                    "created_at": "2026-06-26T21:36:23Z",
                    "updated_at": "2026-06-26T21:36:23Z",
                    "hourly_rate": 180.0,
                    "budget": None,
                },
                "hours": hours,
                "hours_without_timer": hours,
                "rounded_hours": round(hours * 4 + 0.49) / 4,
                "notes": rng.choice(["Ingestion pipeline", "Workshop prep", "Code review", ""]),
                "created_at": stamp,
                "updated_at": stamp,
                "is_locked": approved,
                "locked_reason": "Item Approved and Locked for this Time Period"
                if approved
                else None,
                "is_closed": approved,
                "approval_status": "approved" if approved else "submitted",
                "is_billed": False,
                "timer_started_at": None,
                "started_time": None,
                "ended_time": None,
                "is_running": False,
                "invoice": None,
                "external_reference": None,
                "billable": True,
                "budgeted": False,
                "billable_rate": 180.0,
                "cost_rate": 95.5,
            }
        )
    page = {
        "time_entries": rows,
        "per_page": 2000,
        "total_pages": 3,
        "total_entries": entries * 3,
        "next_page": None,
        "previous_page": None,
        "page": 1,
        "links": {
            "first": "https://api.harvestapp.com/v2/time_entries?page=1&per_page=2000",
            "next": "https://api.harvestapp.com/v2/time_entries?cursor=eyJhZnRlciI6eyJpZCI6MX19&per_page=2000&ref=next_cursor",
            "previous": None,
            "last": "https://api.harvestapp.com/v2/time_entries?page=3&per_page=2000",
        },
    }
    return json.dumps(page).encode()


def best_of(rounds: int, work: Callable[[], int]) -> tuple[float, int]:
    """Run `work` `rounds` times; return the median seconds per run and what it counted."""
    times = []
    count = 0
    for _ in range(rounds):
        started = time.perf_counter()
        count = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=None, help="default 30, --quick 5")
    parser.add_argument("--quick", action="store_true", help="5 rounds: a quick look")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.rounds = args.rounds or (5 if args.quick else 30)
    body = harvest_page(args.entries, args.seed)

    def baseline() -> int:
        return len(msgspec.json.decode(body)["time_entries"])

    def mediator() -> int:
        return len(time_entries_from_harvest(body, account_currency="USD").items)

    # warm both paths (decoder caches, first-touch allocations) before timing
    baseline(), mediator()
    # interleave the two so a noisy neighbour on the shared 2 cores hits both alike
    base_times, ours_times = [], []
    for _ in range(args.rounds):
        base_times.append(best_of(1, baseline)[0])
        ours_times.append(best_of(1, mediator)[0])
    base_s, ours_s = statistics.median(base_times), statistics.median(ours_times)
    base_rate, ours_rate = args.entries / base_s, args.entries / ours_s
    report = {
        "bench": "codecs.harvest_time_entry_page",
        "machine": machine(),
        "quick": args.quick,
        "entries": args.entries,
        "page_bytes": len(body),
        "rounds": args.rounds,
        "seed": args.seed,
        "python": sys.version.split()[0],
        "msgspec": msgspec.__version__,
        "decode_and_map_entries_per_s": round(ours_rate),
        "decode_and_map_ms_per_page": round(ours_s * 1000, 3),
        "baseline": "msgspec.json.decode(page) into dicts, same page, same run",
        "baseline_entries_per_s": round(base_rate),
        "baseline_ms_per_page": round(base_s * 1000, 3),
        "ratio": round(ours_rate / base_rate, 3),
        "target_ratio": 0.5,
        "meets_target": ours_rate / base_rate >= 0.5,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Token usage of the last days, by day, model and user (needs an admin's key).

WEBUI_API_KEY=sk-admin... python sdk/examples/usage_report.py [days]
"""

import sys
from datetime import UTC, datetime, timedelta

from webui_client import AppClient


def main() -> None:
    days = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    end = datetime.now(tz=UTC).date()
    start = end - timedelta(days=days - 1)
    with AppClient() as app:
        counts = app.stats().json()["counts"]
        print(f"Users: {counts.get('users')}")
        for group in ("day", "model", "user"):
            report = app.usage_report(start=start, end=end, group_by=group)
            print(f"\nBy {group}, {report.start} to {report.end}:")
            for row in report.rows:
                name = row.get(group) or row.get("email")
                print(
                    f"  {name!s:<32} {row['requests']:>6} requests {row['total_tokens']:>10} tokens"
                )
            print(
                f"  {'total':<32} {report.totals.get('requests', 0):>6} requests "
                f"{report.totals.get('total_tokens', 0):>10} tokens"
            )


if __name__ == "__main__":
    main()

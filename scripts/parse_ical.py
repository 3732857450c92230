#!/usr/bin/env python3
"""Parses an iCalendar feed from stdin with the `icalendar` package (an
independent, widely used parser) and prints what the tests check as JSON."""
import json
import sys

import icalendar


def text(value):
    return None if value is None else str(value)


def when(prop):
    if prop is None:
        return None
    dt = prop.dt
    tz = getattr(dt, "tzinfo", None)
    return {"value": dt.isoformat(), "tzid": prop.params.get("TZID"), "utc": dt.astimezone(__import__("datetime").timezone.utc).isoformat() if tz else None}


def main():
    calendar = icalendar.Calendar.from_ical(sys.stdin.read())
    out = {name: text(calendar.get(name)) for name in ("VERSION", "PRODID", "METHOD", "NAME", "REFRESH-INTERVAL")}
    out["events"] = []
    for event in calendar.walk("VEVENT"):
        categories = event.get("CATEGORIES")
        cats = []
        if categories is not None:
            for group in categories if isinstance(categories, list) else [categories]:
                cats.extend(str(c) for c in group.cats)
        rrule = event.get("RRULE")
        out["events"].append({
            "uid": text(event.get("UID")),
            "summary": text(event.get("SUMMARY")),
            "status": text(event.get("STATUS")),
            "sequence": int(event.get("SEQUENCE")) if event.get("SEQUENCE") is not None else None,
            "dtstamp": when(event.get("DTSTAMP")),
            "dtstart": when(event.get("DTSTART")),
            "dtend": when(event.get("DTEND")),
            "duration": text(event.get("DURATION").dt) if event.get("DURATION") is not None else None,
            "categories": cats,
            "rrule": rrule.to_ical().decode() if rrule is not None else None,
            "url": text(event.get("URL")),
        })
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Parses an iCalendar feed from stdin with the `icalendar` package (an
independent, widely used parser) and prints what the tests check as JSON.

With FROM and TO (RFC 3339) as arguments it also expands every event over
[FROM, TO) with `recurring_ical_events`, giving each instance in UTC twice:
as icalendar reads the TZID (from its own tz database) and as the feed's
own VTIMEZONE says (read by dateutil's tzical)."""
import datetime
import json
import sys

import icalendar
import recurring_ical_events

UTC = datetime.timezone.utc


def text(value):
    return None if value is None else str(value)


def when(prop):
    if prop is None:
        return None
    dt = prop.dt
    tz = getattr(dt, "tzinfo", None)
    return {"value": dt.isoformat(), "tzid": prop.params.get("TZID"), "utc": dt.astimezone(UTC).isoformat() if tz else None}


def utc(dt):
    return dt.astimezone(UTC).isoformat()


def expand(calendar, start, end):
    """Instances per UID: [start, end] in UTC, and the start again through
    the feed's VTIMEZONE of the event's TZID."""
    zones = {str(z["TZID"]): z.to_tz(lookup_tzid=False) for z in calendar.walk("VTIMEZONE")}
    # Instances do not all keep their TZID parameter (UTC loses it).
    tzids = {str(e["UID"]): e["DTSTART"].params.get("TZID") for e in calendar.walk("VEVENT")}
    instances = {}
    for event in recurring_ical_events.of(calendar).between(start, end):
        begin = event["DTSTART"].dt
        finish = event["DTEND"].dt if "DTEND" in event else begin + event["DURATION"].dt
        tzid = tzids.get(str(event["UID"]))
        by_vtimezone = None
        if tzid is not None and tzid in zones:
            own = begin.replace(tzinfo=None).replace(tzinfo=zones[tzid])
            by_vtimezone = utc(own)
        instances.setdefault(str(event["UID"]), []).append(
            {"start": utc(begin), "end": utc(finish), "start_by_vtimezone": by_vtimezone}
        )
    for found in instances.values():
        found.sort(key=lambda i: i["start"])
    return instances


def main():
    calendar = icalendar.Calendar.from_ical(sys.stdin.read())
    out = {name: text(calendar.get(name)) for name in ("VERSION", "PRODID", "METHOD", "NAME", "REFRESH-INTERVAL")}
    out["timezones"] = [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")]
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
    if len(sys.argv) == 3:
        start, end = (datetime.datetime.fromisoformat(a) for a in sys.argv[1:3])
        out["instances"] = expand(calendar, start, end)
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()

// Reads an iCalendar feed from stdin with ical.js (Mozilla's parser, the
// one Thunderbird and many web calendars use) and expands every event over
// [FROM, TO). ical.js has no time zone database of its own: a TZID means
// what the feed's VTIMEZONE says, and without one the time is floating
// (run with TZ=UTC, so a floating time reads as UTC). Prints JSON: the
// VTIMEZONEs defined, and per UID the zone its start is in and its
// instances in UTC.
import ICAL from 'ical.js';

const MAX_INSTANCES = 5000;
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const calendar = new ICAL.Component(ICAL.parse(Buffer.concat(chunks).toString('utf8')));
const from = new Date(process.env.FROM);
const to = new Date(process.env.TO);

const timezones = calendar
  .getAllSubcomponents('vtimezone')
  .map((zone) => zone.getFirstPropertyValue('tzid'));
const events = {};
for (const vevent of calendar.getAllSubcomponents('vevent')) {
  const event = new ICAL.Event(vevent);
  const instances = [];
  const keep = (start, end) => {
    if (start < to && end > from) {
      instances.push({ start: start.toISOString(), end: end.toISOString() });
    }
  };
  if (event.isRecurring()) {
    const iterator = event.iterator();
    for (let next = iterator.next(); next; next = iterator.next()) {
      const details = event.getOccurrenceDetails(next);
      const start = details.startDate.toJSDate();
      if (start >= to || instances.length >= MAX_INSTANCES) break;
      keep(start, details.endDate.toJSDate());
    }
  } else {
    keep(event.startDate.toJSDate(), event.endDate.toJSDate());
  }
  events[event.uid] = { zone: event.startDate.zone.tzid, instances };
}
console.log(JSON.stringify({ timezones, events }));

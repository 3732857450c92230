// Runs the GraphQL over HTTP audit suite of graphql-http (the reference
// implementation of the GraphQL Foundation's specification) against
// Gatehouse. Every request carries the bearer token; the audits are
// otherwise as published. Prints one JSON line per audit; exits 1 when a
// MUST or SHOULD audit fails.
import { auditServer } from 'graphql-http';

const url = `${process.env.BASE_URL}/graphql`;
const token = process.env.TOKEN;
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers ?? {});
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

const results = await auditServer({ url, fetchFn });
let failed = 0;
for (const result of results) {
  const level = result.name.split(' ')[0];
  const passed = result.status === 'ok';
  if (!passed && level !== 'MAY') failed += 1;
  console.log(JSON.stringify({ id: result.id, name: result.name, status: result.status, reason: result.reason }));
}
process.exit(failed === 0 ? 0 : 1);

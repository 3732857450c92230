"""schemathesis check for scripts/fuzz_graphql.sh (loaded via SCHEMATHESIS_HOOKS).

schemathesis' own `not_a_server_error` counts every GraphQL `errors` entry
as a server error, so a VALIDATION answer to garbage input would fail the
run. Gatehouse answers hostile input with a coded error; what must never
happen is a 5xx or an INTERNAL error (a fault the server did not expect).
"""

import schemathesis


@schemathesis.check
def no_5xx_or_internal(ctx, response, case):
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:500]}")
    try:
        body = response.json()
    except Exception:
        return None  # not JSON (e.g. 413 for an oversized body): not a fault
    errors = body.get("errors") if isinstance(body, dict) else None
    for error in errors or []:
        code = ((error or {}).get("extensions") or {}).get("code")
        if code == "INTERNAL":
            raise AssertionError(f"INTERNAL error: {error}")
    return None

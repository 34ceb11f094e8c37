// String fields whose values have a form (names, times, quantities), as CRD schema pieces: each
// refused at admission with a message that says what is expected, not just that the value is
// wrong. CEL rules (not `pattern` or `format`) carry the messages; maxLength bounds their cost.

import type { JSONSchema } from "./crd.ts";

const LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS_LABEL = `^${LABEL}$`;
const DNS_SUBDOMAIN = `^${LABEL}(\\\\.${LABEL})*$`;
// RFC 3339 as metav1.Time is written: date, "T", time, optional fraction, "Z" or an offset.
const RFC3339 =
  "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$";

/** A string of at most maxLength characters that must pass rule, else message is the answer. */
function checked(maxLength: number, rule: string, message: string, extra: JSONSchema): JSONSchema {
  return { type: "string", maxLength, ...extra, "x-kubernetes-validations": [{ rule, message }] };
}

/** The name of an object (a DNS-1123 subdomain, as metadata.name is): what refers to it. */
export function objectNameField(what: string, extra: JSONSchema = {}): JSONSchema {
  return checked(
    253,
    `self.matches('${DNS_SUBDOMAIN}')`,
    `${what} must be an object name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit`,
    extra,
  );
}

/** A DNS-1123 label of at most maxLength characters (a namespace, a short name). */
export function dnsLabelField(what: string, maxLength = 63, extra: JSONSchema = {}): JSONSchema {
  return checked(
    maxLength,
    `self.matches('${DNS_LABEL}')`,
    `${what} must be lower-case letters, digits and '-', starting and ending with a letter or digit (at most ${maxLength})`,
    extra,
  );
}

/** A point in time, written as RFC 3339 (what `date -u +%FT%TZ` prints). */
export function timeField(what: string, extra: JSONSchema = {}): JSONSchema {
  // The pattern first: timestamp() of a non-time is an evaluation error, without our message.
  return checked(
    64,
    `self.matches('${RFC3339}') && timestamp(self) == timestamp(self)`,
    `${what} must be an RFC 3339 time such as "2026-11-27T12:00:00Z" (date -u +%FT%TZ prints one)`,
    extra,
  );
}

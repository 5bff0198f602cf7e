// What an error inside a SCIM handler becomes (RFC 7644 §3.12): an outage of the database is a
// 503 the identity provider retries, whatever shape the driver gives the error.
import { describe, expect, it } from 'vitest';
import { toScimError } from '../../src/scim/errors.js';

describe('toScimError', () => {
  // pg's own words for a connection lost in the middle of a transaction: no code, no class.
  it.each([
    'Client has encountered a connection error and is not queryable',
    'Connection terminated unexpectedly',
    'Client was closed and is not queryable',
  ])('answers 503 to "%s"', (message) => {
    expect(toScimError(new Error(message))).toMatchObject({ status: 503 });
  });

  it('answers 500 to an error it does not know', () => {
    expect(toScimError(new Error('something else went wrong'))).toMatchObject({ status: 500 });
  });
});

// A SCIM list query the service provider declines to run. RFC 7644 §3.12 (Table 9): a filter whose
// syntax is invalid, or whose attribute and comparison combination is not supported, is a 400 with
// scimType "invalidFilter"; a bad sortBy or sortOrder value is a 400 "invalidValue".
// src/scim/errors.ts (toScimError) turns this into the SCIM error body by its name.

export type ScimQueryErrorType = 'invalidFilter' | 'invalidValue';

export class ScimQueryError extends Error {
  override readonly name = 'ScimQueryError';
  readonly status = 400;

  constructor(
    message: string,
    readonly scimType: ScimQueryErrorType = 'invalidFilter',
  ) {
    super(message);
  }
}

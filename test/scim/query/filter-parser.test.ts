// RFC 7644 §3.4.2.2 filter grammar: precedence, grouping, not, value paths, literals and errors.
import { describe, expect, it } from 'vitest';
import { MAX_FILTER_DEPTH, parseAttributePath, parseFilter } from '../../../src/scim/query/filter-parser.js';
import { ScimQueryError } from '../../../src/scim/query/query-error.js';

const userName = (value: string) => ({ op: 'eq', path: { attribute: 'userName' }, value });

function parseError(filter: string): ScimQueryError {
  try {
    parseFilter(filter);
  } catch (error) {
    if (error instanceof ScimQueryError) return error;
    throw error;
  }
  throw new Error(`"${filter}" parsed`);
}

describe('parseFilter', () => {
  it('reads an attribute comparison with operators in any case', () => {
    expect(parseFilter('userName EQ "bjensen"')).toEqual(userName('bjensen'));
    expect(parseFilter('title Pr')).toEqual({ op: 'pr', path: { attribute: 'title' } });
  });

  it('binds and tighter than or (RFC 7644 §3.4.2.2 order of operations)', () => {
    expect(parseFilter('userName eq "a" or userName eq "b" and userName eq "c"')).toEqual({
      op: 'or',
      operands: [userName('a'), { op: 'and', operands: [userName('b'), userName('c')] }],
    });
  });

  it('lets parentheses override precedence and nest', () => {
    expect(parseFilter('userName eq "x" and (emails co "y" or not (title pr))')).toEqual({
      op: 'and',
      operands: [
        userName('x'),
        { op: 'or', operands: [{ op: 'co', path: { attribute: 'emails' }, value: 'y' }, { op: 'not', operand: { op: 'pr', path: { attribute: 'title' } } }] },
      ],
    });
  });

  it('keeps not over a whole group instead of distributing it', () => {
    expect(parseFilter('not (userName eq "a" or userName eq "b")')).toEqual({
      op: 'not',
      operand: { op: 'or', operands: [userName('a'), userName('b')] },
    });
    expect(parseFilter('not(userName eq "a")')).toEqual({ op: 'not', operand: userName('a') });
  });

  it('reads a value path as one filter over the values of the attribute', () => {
    expect(parseFilter('emails[type eq "work" and value co "@example.com"]')).toEqual({
      op: 'valuePath',
      path: { attribute: 'emails' },
      filter: { op: 'and', operands: [{ op: 'eq', path: { attribute: 'type' }, value: 'work' }, { op: 'co', path: { attribute: 'value' }, value: '@example.com' }] },
    });
  });

  it('joins a sub-attribute comparison after a value path to the same value', () => {
    expect(parseFilter('emails[type eq "work"].value eq "a@b.c"')).toEqual({
      op: 'valuePath',
      path: { attribute: 'emails' },
      filter: { op: 'and', operands: [{ op: 'eq', path: { attribute: 'type' }, value: 'work' }, { op: 'eq', path: { attribute: 'value' }, value: 'a@b.c' }] },
    });
  });

  it('splits a schema URN (whose version holds a dot) from the attribute and sub-attribute', () => {
    expect(parseFilter('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m"')).toEqual({
      op: 'eq',
      path: { schema: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', attribute: 'manager', subAttribute: 'value' },
      value: 'm',
    });
  });

  it('reads JSON literals: booleans in any case, null, numbers and escaped strings', () => {
    expect(parseFilter('active eq True')).toMatchObject({ value: true });
    expect(parseFilter('active eq FALSE')).toMatchObject({ value: false });
    expect(parseFilter('title eq null')).toMatchObject({ value: null });
    expect(parseFilter('x gt -1.5e2')).toMatchObject({ value: -150 });
    expect(parseFilter(String.raw`userName eq "a\"b\\c\u0041"`)).toMatchObject({ value: 'a"b\\cA' });
  });

  it('reads unquoted values as clients mean them: bare words, dates, ids and e-mail addresses are strings', () => {
    expect(parseFilter('userName eq bjensen')).toEqual({ op: 'eq', path: { attribute: 'userName' }, value: 'bjensen' });
    expect(parseFilter('meta.lastModified gt 2011-05-13T04:42:34Z')).toMatchObject({ value: '2011-05-13T04:42:34Z' });
    expect(parseFilter('id eq 2819c223-7f76-453a-919d-413861904646')).toMatchObject({ value: '2819c223-7f76-453a-919d-413861904646' });
    expect(parseFilter('emails[value eq bjensen@example.com]')).toMatchObject({ filter: { value: 'bjensen@example.com' } });
    // 007 is not a JSON number (no leading zeros), so it stays the string it was written as.
    expect(parseFilter('externalId eq 007')).toMatchObject({ value: '007' });
    expect(parseFilter('externalId eq 1001 and active eq true')).toEqual({
      op: 'and',
      operands: [
        { op: 'eq', path: { attribute: 'externalId' }, value: 1001, unquoted: '1001' },
        { op: 'eq', path: { attribute: 'active' }, value: true, unquoted: 'true' },
      ],
    });
    expect(parseFilter('title eq null')).toEqual({ op: 'eq', path: { attribute: 'title' }, value: null });
  });

  it.each([
    ['userName eq', 'ends early'],
    ['userName eq "x" or', 'ends early'],
    ['userName xx "a"', "operator 'xx'"],
    ['userName regex "a"', "operator 'regex'"],
    ['userName eq and title pr', 'Expected a value'],
    ['userName eq (x)', 'Expected a value'],
    ['(userName eq "a"', 'expected ")"'],
    ['emails[type eq "work"', 'expected "]"'],
    ['emails[type eq "work"] userName pr', 'Expected and, or'],
    ['emails[members[value eq "x"]]', 'do not nest'],
    ['emails[emails.type eq "work"]', 'sub-attribute name'],
    ['name.givenName.x eq "a"', 'attribute path'],
    ['userName eq "unterminated', "Unexpected character '\"'"],
    [String.raw`userName eq "bad \q escape"`, 'not a valid JSON string'],
    ['', 'empty'],
  ])('rejects %j as invalidFilter (%s)', (filter, message) => {
    const error = parseError(filter);
    expect(error.name).toBe('ScimQueryError');
    expect(error.scimType).toBe('invalidFilter');
    expect(error.status).toBe(400);
    expect(error.message).toContain(message);
  });

  it('refuses nesting deeper than the limit', () => {
    const deep = `${'('.repeat(MAX_FILTER_DEPTH + 1)}title pr${')'.repeat(MAX_FILTER_DEPTH + 1)}`;
    expect(parseError(deep).message).toContain('nests deeper');
    const fine = `${'('.repeat(MAX_FILTER_DEPTH)}title pr${')'.repeat(MAX_FILTER_DEPTH)}`;
    expect(parseFilter(fine)).toEqual({ op: 'pr', path: { attribute: 'title' } });
  });
});

describe('parseAttributePath', () => {
  it('reads a sortBy path and rejects anything else', () => {
    expect(parseAttributePath('name.familyName')).toEqual({ attribute: 'name', subAttribute: 'familyName' });
    expect(parseAttributePath('userName eq "x"')).toBeUndefined();
    expect(parseAttributePath('a.b.c')).toBeUndefined();
  });
});

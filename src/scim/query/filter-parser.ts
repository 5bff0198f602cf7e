// Parses a SCIM filter (RFC 7644 §3.4.2.2, Figure 1) into a tree that filter-sql.ts translates.
//
// scimmy 1.3.5's Filter is not used for this: its flattened form answers `not (a or b)` as
// `not a or not b` (and `not (a and b)` as `not a and not b`), reads `active eq True` as
// `active eq false`, rejects nested groups such as `a and (b or not (c pr))`, and merges
// `emails[type eq "work"] and emails[value co "x"]` into one value filter. Each of those returns
// the wrong users without an error, so the grammar is parsed here, as the RFC writes it.
import { ScimQueryError } from './query-error.js';

/** RFC 7644 §3.4.2.2, Table 3. */
export const COMPARISON_OPERATORS = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'lt', 'ge', 'le'] as const;
export type ComparisonOperator = (typeof COMPARISON_OPERATORS)[number];

/** compValue: the JSON literals false / null / true / number / string. */
export type FilterValue = string | number | boolean | null;

/** attrPath = [URI ":"] ATTRNAME *1subAttr (RFC 7644 §3.10). Inside a value path, only ATTRNAME. */
export interface AttributePath {
  /** The schema URN the attribute was qualified with, as written. */
  schema?: string;
  attribute: string;
  subAttribute?: string;
}

export type FilterExpression =
  | { op: 'and' | 'or'; operands: FilterExpression[] }
  | { op: 'not'; operand: FilterExpression }
  | { op: 'pr'; path: AttributePath }
  /** `unquoted`: the value's text when it was not a quoted string, for a string attribute to compare with. */
  | { op: ComparisonOperator; path: AttributePath; value: FilterValue; unquoted?: string }
  /** valuePath = attrPath "[" valFilter "]": one value of `path` must satisfy `filter`. */
  | { op: 'valuePath'; path: AttributePath; filter: FilterExpression };

/** Deeper nesting than this is not a real client's filter; refusing it keeps SQL and stack small. */
export const MAX_FILTER_DEPTH = 32;
/** Longer than any filter an identity provider sends; bounds the work done on hostile input. */
export const MAX_FILTER_LENGTH = 4096;

type TokenKind = '(' | ')' | '[' | ']' | 'string' | 'number' | 'word' | 'bare';

interface Token {
  kind: TokenKind;
  text: string;
  position: number;
}

const TOKEN = new RegExp(
  [
    String.raw`(?<space>\s+)`,
    String.raw`(?<punct>[()[\]])`,
    String.raw`(?<string>"(?:[^"\\]|\\.)*")`,
    String.raw`(?<number>-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![\w.])`,
    // Attribute paths (URNs included, whose version holds a dot), keywords and literals.
    String.raw`(?<word>[A-Za-z$.][\w$:.\-/%]*)`,
  ].join('|'),
  'y',
);

const ATTRNAME = /^(?:[A-Za-z][\w-]*|\$ref)$/;

// An unquoted value: everything up to white space, a bracket or a quote.
const BARE_VALUE = /[^\s()[\]"]+/y;
const SPACE = /\s*/y;

/** Whether the next token is a comparison's value: it follows `attrPath compareOp`. */
function expectsValue(tokens: Token[]): boolean {
  const [path, operator] = tokens.slice(-2);
  return path?.kind === 'word' && operator?.kind === 'word' && (COMPARISON_OPERATORS as readonly string[]).includes(operator.text.toLowerCase());
}

function tokenise(text: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const position = TOKEN.lastIndex;
    if (expectsValue(tokens)) {
      // Clients send values the ABNF wants quoted without quotes (`userName eq bjensen`,
      // `meta.lastModified gt 2011-05-13T04:42:34Z`, an id starting with a digit). The position
      // makes the meaning plain, so the value is read as written (docs/decisions/030-client-profiles.md).
      SPACE.lastIndex = position;
      SPACE.exec(text);
      BARE_VALUE.lastIndex = SPACE.lastIndex;
      const bare = text[SPACE.lastIndex] === '"' ? null : BARE_VALUE.exec(text);
      if (bare) {
        tokens.push({ kind: 'bare', text: bare[0], position: SPACE.lastIndex });
        TOKEN.lastIndex = BARE_VALUE.lastIndex;
        continue;
      }
    }
    const match = TOKEN.exec(text);
    if (!match?.groups) throw new ScimQueryError(`Unexpected character '${text[position]}' at position ${position + 1} of the filter`);
    const { punct, string, number, word } = match.groups;
    if (punct !== undefined) tokens.push({ kind: punct as TokenKind, text: punct, position });
    else if (string !== undefined) tokens.push({ kind: 'string', text: string, position });
    else if (number !== undefined) tokens.push({ kind: 'number', text: number, position });
    else if (word !== undefined) tokens.push({ kind: 'word', text: word, position });
  }
  return tokens;
}

function parsePath(token: Token, withinValuePath: boolean): AttributePath {
  const text = token.text;
  const colon = text.lastIndexOf(':');
  const schema = colon >= 0 ? text.slice(0, colon) : undefined;
  const names = text.slice(colon + 1).split('.');
  const valid =
    names.every((name) => ATTRNAME.test(name)) &&
    names.length <= (withinValuePath ? 1 : 2) &&
    (schema === undefined || (!withinValuePath && schema.length > 0));
  if (!valid) {
    const expected = withinValuePath ? 'a sub-attribute name' : 'an attribute path such as name.givenName';
    throw new ScimQueryError(`Expected ${expected} at position ${token.position + 1} of the filter, found '${text}'`);
  }
  const [attribute, subAttribute] = names as [string, string | undefined];
  return { ...(schema !== undefined ? { schema } : {}), attribute, ...(subAttribute !== undefined ? { subAttribute } : {}) };
}

class Parser {
  private index = 0;
  private depth = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly length: number,
  ) {}

  parse(): FilterExpression {
    if (this.tokens.length === 0) throw new ScimQueryError('The filter is empty');
    const expression = this.or(false);
    const rest = this.peek();
    if (rest) throw this.unexpected(rest, 'and, or, or the end of the filter');
    return expression;
  }

  private peek(): Token | undefined {
    return this.tokens[this.index];
  }

  private next(expected: string): Token {
    const token = this.tokens[this.index++];
    if (!token) throw new ScimQueryError(`The filter ends early: expected ${expected} at position ${this.length + 1}`);
    return token;
  }

  private keyword(token: Token | undefined, ...words: string[]): boolean {
    return token?.kind === 'word' && words.includes(token.text.toLowerCase());
  }

  private unexpected(token: Token, expected: string): ScimQueryError {
    return new ScimQueryError(`Expected ${expected} at position ${token.position + 1} of the filter, found '${token.text}'`);
  }

  private enter(token: Token) {
    if (++this.depth > MAX_FILTER_DEPTH) {
      throw new ScimQueryError(`The filter nests deeper than ${MAX_FILTER_DEPTH} levels at position ${token.position + 1}`);
    }
  }

  // RFC 7644 §3.4.2.2: "not" binds tighter than "and", which binds tighter than "or".
  private or(withinValuePath: boolean): FilterExpression {
    return this.chain('or', () => this.and(withinValuePath));
  }

  private and(withinValuePath: boolean): FilterExpression {
    return this.chain('and', () => this.unary(withinValuePath));
  }

  private chain(operator: 'and' | 'or', operand: () => FilterExpression): FilterExpression {
    const operands = [operand()];
    while (this.keyword(this.peek(), operator)) {
      this.index++;
      operands.push(operand());
    }
    return operands.length === 1 ? operands[0]! : { op: operator, operands };
  }

  private unary(withinValuePath: boolean): FilterExpression {
    const token = this.next('an attribute, "not" or "("');
    // The ABNF asks for `not (...)`; `not attr op value` is accepted too, as scimmy and most IdPs do.
    if (this.keyword(token, 'not')) {
      this.enter(token);
      const operand = this.unary(withinValuePath);
      this.depth--;
      return { op: 'not', operand };
    }
    if (token.kind === '(') {
      this.enter(token);
      const inner = this.or(withinValuePath);
      const close = this.next('")"');
      if (close.kind !== ')') throw this.unexpected(close, '")"');
      this.depth--;
      return inner;
    }
    if (token.kind !== 'word') throw this.unexpected(token, 'an attribute, "not" or "("');
    const path = parsePath(token, withinValuePath);
    if (this.peek()?.kind === '[') {
      if (withinValuePath) throw this.unexpected(this.peek()!, 'an operator: value filters do not nest');
      return this.valuePath(path);
    }
    return this.attributeExpression(path);
  }

  private valuePath(path: AttributePath): FilterExpression {
    const open = this.next('"["');
    if (path.subAttribute !== undefined) throw this.unexpected(open, 'an operator after a sub-attribute');
    this.enter(open);
    const filter = this.or(true);
    const close = this.next('"]"');
    if (close.kind !== ']') throw this.unexpected(close, '"]"');
    this.depth--;
    // `emails[type eq "work"].value co "x"`, PATCH path syntax (RFC 7644 §3.5.2) some IdPs send in
    // filters: the same value must satisfy both, so the comparison joins the value filter.
    const after = this.peek();
    if (after?.kind === 'word' && after.text.startsWith('.')) {
      this.index++;
      const sub = parsePath({ ...after, text: after.text.slice(1) }, true);
      return { op: 'valuePath', path, filter: { op: 'and', operands: [filter, this.attributeExpression(sub)] } };
    }
    return { op: 'valuePath', path, filter };
  }

  private attributeExpression(path: AttributePath): FilterExpression {
    const operator = this.next('an operator (eq, ne, co, sw, ew, gt, lt, ge, le, pr)');
    const op = operator.kind === 'word' ? operator.text.toLowerCase() : '';
    if (op === 'pr') return { op: 'pr', path };
    if (!(COMPARISON_OPERATORS as readonly string[]).includes(op)) {
      // RFC 7644 §3.4.2.2: an operator that is not recognised is declined with invalidFilter.
      throw new ScimQueryError(`The operator '${operator.text}' at position ${operator.position + 1} is not supported; use eq, ne, co, sw, ew, gt, lt, ge, le or pr`);
    }
    const token = this.peek();
    const value = this.value();
    return { op: op as ComparisonOperator, path, value, ...(token?.kind === 'bare' && (typeof value === 'number' || typeof value === 'boolean') ? { unquoted: token.text } : {}) };
  }

  private number(token: Token): number {
    const value = Number(token.text);
    if (!Number.isFinite(value)) throw new ScimQueryError(`The number at position ${token.position + 1} of the filter is out of range`);
    return value;
  }

  private value(): FilterValue {
    const token = this.next('a value (a "string", number, true, false or null)');
    if (token.kind === 'string') {
      try {
        // RFC 7644 §3.4.2.2: string literals are JSON strings (RFC 7159), escapes included.
        return JSON.parse(token.text) as string;
      } catch {
        throw new ScimQueryError(`The string at position ${token.position + 1} of the filter is not a valid JSON string`);
      }
    }
    if (token.kind === 'number') return this.number(token);
    if (token.kind !== 'bare') throw this.unexpected(token, 'a value (a "string", number, true, false or null)');
    // ABNF literals are case-insensitive (RFC 5234 §2.3), so True and FALSE are booleans too.
    const literal = token.text.toLowerCase();
    if (literal === 'true') return true;
    if (literal === 'false') return false;
    if (literal === 'null') return null;
    if (NUMBER.test(token.text)) return this.number(token);
    // `and`, `or` and `not` right after an operator mean the value is missing, not the word.
    if (['and', 'or', 'not'].includes(literal)) throw this.unexpected(token, 'a value (a "string", number, true, false or null)');
    return token.text;
  }
}

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** Parses a bare attribute path such as a sortBy value; undefined when it is not one. */
export function parseAttributePath(text: string): AttributePath | undefined {
  try {
    const tokens = tokenise(text.trim());
    const [token] = tokens;
    return tokens.length === 1 && token?.kind === 'word' ? parsePath(token, false) : undefined;
  } catch {
    return undefined;
  }
}

/** Parses a filter string; every syntax error is a ScimQueryError (400 invalidFilter). */
export function parseFilter(text: string): FilterExpression {
  if (text.length > MAX_FILTER_LENGTH) throw new ScimQueryError(`The filter is longer than ${MAX_FILTER_LENGTH} characters`);
  return new Parser(tokenise(text), text.length).parse();
}

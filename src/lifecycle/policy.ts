// The entitlement policy: which downstream systems a person is entitled to, read from the JSON
// file named by JML_POLICY_FILE (format: docs/policy.md). A mover is deactivated where an
// entitlement was lost and reactivated where one was gained. Pure apart from reading the file.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { SYSTEMS, type SystemName } from '../connectors/types.js';
import { MOVER_ATTRIBUTES, type LifecycleState, type MoverAttribute } from './detect.js';

/** A rule as written in the file; the in-memory policy is the file, validated. */
export type Rule =
  | 'everyone'
  | 'nobody'
  | { readonly attribute: MoverAttribute; readonly in: readonly string[] }
  | { readonly attribute: MoverAttribute; readonly notIn: readonly string[] }
  | { readonly group: string }
  | { readonly anyOf: readonly Rule[] }
  | { readonly allOf: readonly Rule[] }
  | { readonly not: Rule };

export interface EntitlementSubject extends Pick<LifecycleState, MoverAttribute> {
  groups: readonly { id: string; displayName: string }[];
}

export interface MoverTarget {
  system: SystemName;
  action: 'deactivate' | 'reactivate';
}

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
}

const RULE_KEYS = ['attribute', 'group', 'anyOf', 'allOf', 'not'] as const;
const RULE_EXPECTED = `expected "everyone", "nobody" or an object with one of ${RULE_KEYS.join(', ')}`;

const quoted = (values: readonly unknown[]) => values.map((value) => JSON.stringify(value)).join(', ');

/**
 * Tags each rule object with the kind its key announces, so that zod validates it against that
 * kind alone: a plain union would answer "Invalid input" for a typo deep inside an `anyOf`
 * instead of naming the field. The tag is removed again once the rule is valid.
 */
function tagRule(value: unknown, ctx: z.RefinementCtx): unknown {
  if (value === 'everyone' || value === 'nobody') return { kind: value };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: value === undefined ? `required: ${RULE_EXPECTED}` : RULE_EXPECTED, input: value });
    return z.NEVER;
  }
  const present = RULE_KEYS.filter((key) => Object.hasOwn(value, key));
  const [key] = present;
  if (key === undefined || present.length > 1) {
    const found = present.length > 1 ? `found ${quoted(present)} together` : `found ${quoted(Object.keys(value)) || 'no keys'}`;
    ctx.addIssue({ code: 'custom', message: `a rule has exactly one of ${RULE_KEYS.join(', ')}: ${found}`, input: value });
    return z.NEVER;
  }
  if (Object.hasOwn(value, 'kind')) {
    ctx.addIssue({ code: 'custom', message: 'unknown key "kind"', input: value });
    return z.NEVER;
  }
  if (key !== 'attribute') return { ...value, kind: key };
  const comparisons = ['in', 'notIn'].filter((name) => Object.hasOwn(value, name));
  if (comparisons.length !== 1) {
    ctx.addIssue({ code: 'custom', message: 'an attribute rule has exactly one of "in", "notIn"', input: value });
    return z.NEVER;
  }
  return { ...value, kind: comparisons[0] };
}

const ruleObject = <Shape extends z.ZodRawShape>(shape: Shape) =>
  z.strictObject(shape, { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown key ${quoted(issue.keys)}` : undefined) });

const attribute = z.enum(MOVER_ATTRIBUTES, {
  error: (issue) => `unknown attribute ${JSON.stringify(issue.input)}: expected one of ${quoted(MOVER_ATTRIBUTES)}`,
});
const values = z
  .array(z.string({ error: 'expected a string' }).min(1, 'expected a non-empty string'), { error: 'expected a list of strings' })
  .min(1, 'expected at least one value');
const rules = () => z.array(ruleSchema, { error: 'expected a list of rules' }).min(1, 'expected at least one rule');

const ruleSchema: z.ZodType<Rule, unknown> = z.lazy(() =>
  z
    .preprocess(
      tagRule,
      z.discriminatedUnion('kind', [
        ruleObject({ kind: z.literal('everyone') }),
        ruleObject({ kind: z.literal('nobody') }),
        ruleObject({ kind: z.literal('in'), attribute, in: values }),
        ruleObject({ kind: z.literal('notIn'), attribute, notIn: values }),
        ruleObject({ kind: z.literal('group'), group: z.string({ error: "expected a group's displayName or id" }).min(1, "expected a group's displayName or id") }),
        ruleObject({ kind: z.literal('anyOf'), anyOf: rules() }),
        ruleObject({ kind: z.literal('allOf'), allOf: rules() }),
        ruleObject({ kind: z.literal('not'), not: ruleSchema }),
      ]),
    )
    .transform(({ kind, ...rule }): Rule => (kind === 'everyone' || kind === 'nobody' ? kind : (rule as Rule))),
);

const systemPolicy = ruleObject({ entitled: ruleSchema });

export const policySchema = z.strictObject(
  {
    version: z.literal(1, { error: 'expected 1, the only version of this format' }),
    systems: z.strictObject(
      {
        rocketchat: systemPolicy.optional(),
        mendix: systemPolicy.optional(),
        userapi: systemPolicy.optional(),
      } satisfies Record<SystemName, z.ZodType>,
      {
        error: (issue) =>
          issue.code === 'unrecognized_keys'
            ? `unknown system ${quoted(issue.keys)}: expected one of ${quoted(SYSTEMS)}`
            : `${issue.input === undefined ? 'required: ' : ''}expected an object keyed by system name`,
      },
    ),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown key ${quoted(issue.keys)}` : 'expected an object with "version" and "systems"') },
);

export type EntitlementPolicy = z.output<typeof policySchema>;

/** No policy file: everyone is entitled to every system, as before policies existed. */
export const EVERYONE_EVERYWHERE: EntitlementPolicy = { version: 1, systems: {} };

/** `systems.mendix.entitled.anyOf[1].attribute`, the way the reader would find it in the file. */
function jsonPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(the whole file)';
  return path
    .map((segment, index) => {
      if (typeof segment === 'number') return `[${segment}]`;
      const name = String(segment);
      if (!/^[A-Za-z_$][\w$]*$/.test(name)) return `[${JSON.stringify(name)}]`;
      return index === 0 ? name : `.${name}`;
    })
    .join('');
}

/** Validates an already parsed policy; `source` names where it came from in error messages. */
export function parsePolicy(input: unknown, source: string): EntitlementPolicy {
  const result = policySchema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  ${jsonPath(issue.path)}: ${issue.message}`);
  throw new PolicyError(`Invalid entitlement policy in ${source}:\n${lines.join('\n')}`);
}

/** Reads and validates the policy file; no file (unset or empty) means everyone everywhere. */
export function loadPolicy(path: string | undefined, read: (path: string) => string = (file) => readFileSync(file, 'utf8')): EntitlementPolicy {
  if (!path) return EVERYONE_EVERYWHERE;
  let text: string;
  try {
    text = read(path);
  } catch (error) {
    throw new PolicyError(`The entitlement policy ${path} (JML_POLICY_FILE) cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (error) {
    throw new PolicyError(`The entitlement policy ${path} (JML_POLICY_FILE) is not valid JSON: ${(error as Error).message}`);
  }
  return parsePolicy(input, path);
}

// Compared ignoring case: IdPs send "engineering" and "Engineering" for the same department.
// Group ids are compared the same way; jml's are UUIDs, which RFC 4122 §3 compares ignoring case.
const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

function matches(rule: Rule, person: EntitlementSubject): boolean {
  if (rule === 'everyone') return true;
  if (rule === 'nobody') return false;
  if ('attribute' in rule) {
    const value = person[rule.attribute];
    const listed = (list: readonly string[]) => value !== null && list.some((entry) => same(entry, value));
    // A person without the attribute is in no list, so `notIn` includes them.
    return 'in' in rule ? listed(rule.in) : !listed(rule.notIn);
  }
  if ('group' in rule) return person.groups.some((group) => same(group.id, rule.group) || same(group.displayName, rule.group));
  if ('anyOf' in rule) return rule.anyOf.some((inner) => matches(inner, person));
  if ('allOf' in rule) return rule.allOf.every((inner) => matches(inner, person));
  return !matches(rule.not, person);
}

/** The systems `person` is entitled to, in `SYSTEMS` order. A system the policy omits: everyone. */
export function entitlementsOf(policy: EntitlementPolicy, person: EntitlementSubject): Set<SystemName> {
  return new Set(SYSTEMS.filter((system) => matches(policy.systems[system]?.entitled ?? 'everyone', person)));
}

/**
 * What a mover needs downstream: deactivate where an entitlement was lost, reactivate where one
 * was gained, nothing where it is unchanged. Only `systems` (the configured ones) are considered,
 * in `SYSTEMS` order whatever order they are given in.
 */
export function moverTargets(
  policy: EntitlementPolicy,
  before: EntitlementSubject,
  after: EntitlementSubject,
  systems: readonly SystemName[],
): MoverTarget[] {
  const had = entitlementsOf(policy, before);
  const has = entitlementsOf(policy, after);
  return SYSTEMS.filter((system) => systems.includes(system) && had.has(system) !== has.has(system)).map(
    (system): MoverTarget => ({ system, action: had.has(system) ? 'deactivate' : 'reactivate' }),
  );
}

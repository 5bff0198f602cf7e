import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { SystemName } from '../../src/connectors/types.js';
import {
  entitlementsOf,
  loadPolicy,
  moverTargets,
  PolicyError,
  type EntitlementPolicy,
  type EntitlementSubject,
  type Rule,
} from '../../src/lifecycle/policy.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/policy.json', import.meta.url));
const invalidPolicies = JSON.parse(readFileSync(new URL('invalid-policies.json', import.meta.url), 'utf8')) as {
  why: string;
  policy: unknown;
  errors: string[];
}[];

const ALL: readonly SystemName[] = ['rocketchat', 'mendix', 'userapi'];

const engineer: EntitlementSubject = {
  department: 'Engineering',
  title: 'Engineer',
  managerId: 'mgr-1',
  costCenter: 'CC-100',
  organization: 'Acme',
  division: 'Product',
  groups: [{ id: '0b6f4a1e-5a0c-4c59-9d7e-3f1c2a7b9e10', displayName: 'Developers' }],
};

/** Loads a policy given as an object, through the same path as a file. */
function policyOf(value: unknown): EntitlementPolicy {
  return loadPolicy('/etc/jml/policy.json', () => JSON.stringify(value));
}

/** Whether `person` is entitled to Mendix under a policy that gives Mendix `rule`. */
function entitled(rule: Rule, person: EntitlementSubject = engineer): boolean {
  return entitlementsOf(policyOf({ version: 1, systems: { mendix: { entitled: rule } } }), person).has('mendix');
}

function policyErrorOf(load: () => unknown): PolicyError {
  try {
    load();
  } catch (error) {
    if (error instanceof PolicyError) return error;
    throw error;
  }
  throw new Error('expected a PolicyError');
}

describe('entitlement rules', () => {
  it('"everyone" and "nobody"', () => {
    expect(entitled('everyone')).toBe(true);
    expect(entitled('nobody')).toBe(false);
  });

  it('matches an attribute against a list, ignoring case', () => {
    expect(entitled({ attribute: 'department', in: ['Finance', 'engineering'] })).toBe(true);
    expect(entitled({ attribute: 'department', in: ['Finance'] })).toBe(false);
    expect(entitled({ attribute: 'title', in: ['ENGINEER'] })).toBe(true);
    expect(entitled({ attribute: 'costCenter', in: ['cc-100'] })).toBe(true);
    expect(entitled({ attribute: 'organization', in: ['acme'] })).toBe(true);
    expect(entitled({ attribute: 'division', in: ['Product'] })).toBe(true);
    expect(entitled({ attribute: 'managerId', in: ['MGR-1'] })).toBe(true);
  });

  it('excludes a list with notIn, and counts a missing attribute as in no list', () => {
    expect(entitled({ attribute: 'costCenter', notIn: ['CC-EXT'] })).toBe(true);
    expect(entitled({ attribute: 'costCenter', notIn: ['cc-100'] })).toBe(false);
    const noCostCenter = { ...engineer, costCenter: null };
    expect(entitled({ attribute: 'costCenter', notIn: ['CC-EXT'] }, noCostCenter)).toBe(true);
    expect(entitled({ attribute: 'costCenter', in: ['CC-EXT'] }, noCostCenter)).toBe(false);
  });

  it('matches group membership by displayName (ignoring case) or by id', () => {
    expect(entitled({ group: 'Developers' })).toBe(true);
    expect(entitled({ group: 'developers' })).toBe(true);
    expect(entitled({ group: '0b6f4a1e-5a0c-4c59-9d7e-3f1c2a7b9e10' })).toBe(true);
    expect(entitled({ group: '0B6F4A1E-5A0C-4C59-9D7E-3F1C2A7B9E10' })).toBe(true);
    expect(entitled({ group: 'Finance Team' })).toBe(false);
    expect(entitled({ group: 'Developers' }, { ...engineer, groups: [] })).toBe(false);
  });

  it('combines rules with anyOf, allOf and not', () => {
    const finance = { attribute: 'department', in: ['Finance'] } as const;
    const developers = { group: 'Developers' } as const;
    expect(entitled({ anyOf: [finance, developers] })).toBe(true);
    expect(entitled({ anyOf: [finance, 'nobody'] })).toBe(false);
    expect(entitled({ allOf: [developers, { attribute: 'title', in: ['Engineer'] }] })).toBe(true);
    expect(entitled({ allOf: [developers, finance] })).toBe(false);
    expect(entitled({ not: finance })).toBe(true);
    expect(entitled({ not: { anyOf: [finance, developers] } })).toBe(false);
  });

  it('entitles everyone to a system the policy leaves out, and to all with no policy file', () => {
    const onlyMendix = policyOf({ version: 1, systems: { mendix: { entitled: 'nobody' } } });
    expect([...entitlementsOf(onlyMendix, engineer)]).toEqual(['rocketchat', 'userapi']);
    expect([...entitlementsOf(loadPolicy(undefined), engineer)]).toEqual(['rocketchat', 'mendix', 'userapi']);
    expect([...entitlementsOf(loadPolicy(''), engineer)]).toEqual(['rocketchat', 'mendix', 'userapi']);
  });
});

describe('the example policy', () => {
  const policy = loadPolicy(EXAMPLE);

  it('loads from examples/policy.json', () => {
    expect(Object.keys(policy.systems).sort()).toEqual(['mendix', 'rocketchat', 'userapi']);
  });

  it('gives Mendix to Engineering and Developers, Rocket.Chat to all but CC-EXT, the user API to Finance', () => {
    const accountant = { ...engineer, department: 'Finance', groups: [] };
    const contractor = { ...engineer, department: 'Sales', costCenter: 'cc-ext', groups: [] };
    const contractorDeveloper = { ...contractor, groups: [{ id: 'g-2', displayName: 'DEVELOPERS' }] };
    expect([...entitlementsOf(policy, engineer)]).toEqual(['rocketchat', 'mendix']);
    expect([...entitlementsOf(policy, accountant)]).toEqual(['rocketchat', 'userapi']);
    expect([...entitlementsOf(policy, contractor)]).toEqual([]);
    expect([...entitlementsOf(policy, contractorDeveloper)]).toEqual(['mendix']);
  });
});

describe('moverTargets', () => {
  const policy = loadPolicy(EXAMPLE);

  it('deactivates where an entitlement is lost and reactivates where one is gained', () => {
    const toFinance = { ...engineer, department: 'Finance', groups: [] };
    expect(moverTargets(policy, engineer, toFinance, ALL)).toEqual([
      { system: 'mendix', action: 'deactivate' },
      { system: 'userapi', action: 'reactivate' },
    ]);
    expect(moverTargets(policy, toFinance, engineer, ALL)).toEqual([
      { system: 'mendix', action: 'reactivate' },
      { system: 'userapi', action: 'deactivate' },
    ]);
  });

  it('does nothing where the entitlement is unchanged, though attributes changed', () => {
    const promoted = { ...engineer, title: 'Staff Engineer', managerId: 'mgr-2' };
    expect(moverTargets(policy, engineer, promoted, ALL)).toEqual([]);
    // Leaving Engineering but staying in Developers keeps Mendix.
    expect(moverTargets(policy, engineer, { ...engineer, department: 'Research' }, ALL)).toEqual([]);
  });

  it('treats a group membership change like any other move', () => {
    const outsider = { ...engineer, department: 'Sales', groups: [] };
    const joinedDevelopers = { ...outsider, groups: [{ id: 'g-9', displayName: 'Developers' }] };
    expect(moverTargets(policy, outsider, joinedDevelopers, ALL)).toEqual([{ system: 'mendix', action: 'reactivate' }]);
  });

  it('considers only the configured systems, in a stable order whatever order they are given in', () => {
    const contractor = { ...engineer, department: 'Finance', costCenter: 'CC-EXT', groups: [] };
    expect(moverTargets(policy, engineer, contractor, ['userapi', 'rocketchat', 'mendix'])).toEqual([
      { system: 'rocketchat', action: 'deactivate' },
      { system: 'mendix', action: 'deactivate' },
      { system: 'userapi', action: 'reactivate' },
    ]);
    expect(moverTargets(policy, engineer, contractor, ['userapi'])).toEqual([{ system: 'userapi', action: 'reactivate' }]);
    expect(moverTargets(policy, engineer, contractor, [])).toEqual([]);
  });
});

describe('loadPolicy errors', () => {
  it.each(invalidPolicies)('names the JSON path and what is expected: $why', ({ policy, errors }) => {
    const error = policyErrorOf(() => policyOf(policy));
    expect(error.name).toBe('PolicyError');
    const [heading, ...lines] = error.message.split('\n');
    expect(heading).toBe('Invalid entitlement policy in /etc/jml/policy.json:');
    expect(lines.map((line) => line.trim()).sort()).toEqual([...errors].sort());
  });

  it('names the file when it cannot be read or is not JSON', () => {
    const missing = policyErrorOf(() =>
      loadPolicy('/etc/jml/nowhere.json', () => {
        throw Object.assign(new Error('missing'), { code: 'ENOENT' });
      }),
    );
    expect(missing.message).toBe('The entitlement policy /etc/jml/nowhere.json (JML_POLICY_FILE) cannot be read (ENOENT).');
    const broken = policyErrorOf(() => loadPolicy('/etc/jml/policy.json', () => '{ "version": 1, '));
    expect(broken.message).toMatch(/^The entitlement policy \/etc\/jml\/policy\.json \(JML_POLICY_FILE\) is not valid JSON: /);
  });
});

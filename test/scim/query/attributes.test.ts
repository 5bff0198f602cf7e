// Attribute paths resolve case-insensitively, qualified or not (RFC 7644 §3.10), to the column or
// jsonb value with the caseExact characteristic RFC 7643 gives them.
import { describe, expect, it } from 'vitest';
import { ENTERPRISE_USER_SCHEMA, resolveAttribute, USER_ATTRIBUTES, type ResolvedAttribute, type Unresolved } from '../../../src/scim/query/attributes.js';
import { parseAttributePath } from '../../../src/scim/query/filter-parser.js';

function resolve(text: string): ResolvedAttribute | Unresolved {
  const path = parseAttributePath(text);
  if (!path) throw new Error(`not a path: ${text}`);
  return resolveAttribute(USER_ATTRIBUTES, path);
}

function valueSql(text: string): { sql: string; caseExact: boolean; type: string } {
  const resolved = resolve(text);
  const column = resolved.kind === 'value' || resolved.kind === 'multiValued' ? resolved.column : undefined;
  if (!column) throw new Error(`${text} resolved to ${resolved.kind}`);
  return { sql: column.sql.sql, caseExact: column.caseExact, type: column.type };
}

describe('USER_ATTRIBUTES', () => {
  it('maps the copied attributes to their columns', () => {
    expect(valueSql('userName').sql).toBe('"identity"."user_name"');
    expect(valueSql('name.familyName').sql).toBe('"identity"."family_name"');
    expect(valueSql('meta.lastModified')).toMatchObject({ sql: '"identity"."updated_at"', type: 'dateTime' });
    expect(valueSql(`${ENTERPRISE_USER_SCHEMA}:manager.value`).sql).toBe('"identity"."manager_id"');
  });

  it('maps the other attributes into the resource document', () => {
    expect(valueSql('name.formatted').sql).toBe(`("identity"."resource" -> 'name' ->> 'formatted')`);
    expect(valueSql('nickName').sql).toBe(`("identity"."resource" ->> 'nickName')`);
    expect(valueSql('addresses.locality').sql).toBe(`(element ->> 'locality')`);
  });

  it('resolves names case-insensitively, with or without the schema URN', () => {
    expect(valueSql('USERNAME').sql).toBe(valueSql('userName').sql);
    expect(valueSql('urn:ietf:params:scim:schemas:core:2.0:User:userName').sql).toBe(valueSql('userName').sql);
    expect(valueSql('URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:Department').sql).toBe('"identity"."department"');
    expect(valueSql('department').sql).toBe('"identity"."department"');
  });

  it('takes caseExact from the schema: userName and emails fold case, id and externalId do not', () => {
    expect(valueSql('userName').caseExact).toBe(false);
    expect(valueSql('emails.value').caseExact).toBe(false);
    expect(valueSql('id').caseExact).toBe(true);
    expect(valueSql('externalId').caseExact).toBe(true);
    expect(valueSql('meta.resourceType').caseExact).toBe(true);
    expect(valueSql('photos.value')).toMatchObject({ type: 'reference', caseExact: true });
  });

  it('reads a multi-valued attribute named alone as its value sub-attribute', () => {
    expect(valueSql('emails').sql).toBe(valueSql('emails.value').sql);
    expect(resolve('addresses')).toMatchObject({ kind: 'multiValued' });
    expect(resolve('addresses')).not.toHaveProperty('column');
  });

  it('reports attributes it does not know, including ones never returned', () => {
    expect(resolve('favouriteColour')).toMatchObject({ kind: 'unknown' });
    expect(resolve('password')).toMatchObject({ kind: 'unknown' });
    expect(resolve('name.nickname')).toMatchObject({ kind: 'unknown' });
    expect(resolve('urn:example:schema:userName')).toMatchObject({ kind: 'unknown' });
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigError, parseEnvironment, resolveFileVariables } from '../../src/config.js';

const files: Record<string, string> = { '/run/secrets/token': `${'t'.repeat(40)}\n` };
const read = (file: string) => {
  const content = files[file];
  if (content === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
  return content;
};

describe('configuration', () => {
  it('reads a jml secret from <NAME>_FILE, trimmed', () => {
    const env = resolveFileVariables({ JML_SCIM_TOKEN_FILE: '/run/secrets/token' }, read);
    expect(env.JML_SCIM_TOKEN).toBe('t'.repeat(40));
    expect(env.JML_SCIM_TOKEN_FILE).toBeUndefined();
  });

  it("leaves other software's _FILE variables alone", () => {
    expect(resolveFileVariables({ TF_CLI_CONFIG_FILE: '/nowhere' }, read)).toEqual({ TF_CLI_CONFIG_FILE: '/nowhere' });
  });

  it('names the variable when its file cannot be read, and refuses both forms at once', () => {
    expect(() => resolveFileVariables({ DATABASE_URL_FILE: '/nowhere' }, read)).toThrow('DATABASE_URL_FILE=/nowhere cannot be read (ENOENT).');
    expect(() => resolveFileVariables({ JML_SCIM_TOKEN: 'x', JML_SCIM_TOKEN_FILE: '/run/secrets/token' }, read)).toThrow(ConfigError);
  });

  it('explains a bad value by variable name without echoing it', () => {
    const secret = 'short-secret';
    let message = '';
    try {
      parseEnvironment({ JML_SCIM_TOKEN: secret, PORT: 'eighty' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('JML_SCIM_TOKEN: JML_SCIM_TOKEN must be at least 32 characters');
    expect(message).toContain('PORT:');
    expect(message).not.toContain(secret);
  });

  it('reads JML_TRUST_PROXY as hops or a list of addresses, CIDRs and names, and refuses anything else', () => {
    expect(parseEnvironment({}).JML_TRUST_PROXY).toBe(false);
    expect(parseEnvironment({ JML_TRUST_PROXY: '1' }).JML_TRUST_PROXY).toBe(1);
    expect(parseEnvironment({ JML_TRUST_PROXY: 'loopback, 10.0.0.0/8,fd00::/8' }).JML_TRUST_PROXY).toEqual(['loopback', '10.0.0.0/8', 'fd00::/8']);
    expect(() => parseEnvironment({ JML_TRUST_PROXY: 'true' })).toThrow(/JML_TRUST_PROXY: "true" is neither a hop count/);
    expect(() => parseEnvironment({ JML_TRUST_PROXY: '10.0.0.0/40' })).toThrow(ConfigError);
  });

  it('has working defaults with nothing set', () => {
    expect(parseEnvironment({})).toMatchObject({ PORT: 8080, TEMPORAL_TASK_QUEUE: 'jml-lifecycle', JML_DRY_RUN: false });
  });
});

// W3C traceparent: taken from the caller when well formed (a malformed one is ignored, never an
// error), made when absent, answered in the response, and carried into the decision log line, the
// ledger record, the audit API and `ledger export`: one pull followed from the registry's log to
// its audit record.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceContextOf } from '../../src/http/trace-context.ts';
import { SERVICE, startStack, type Stack } from '../support/stack.ts';
import { callWithProof, decodeJwt, makeProof, newDpopKeys, tokenUrl, type KeyPair, type RawResponse } from '../support/dpop-client.ts';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;
const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

describe('traceContextOf', () => {
  it('continues a well-formed trace with a span id of its own, keeping the sampled flag and tracestate', () => {
    const traceId = hex(16);
    const parentSpan = hex(8);
    const context = traceContextOf({ traceparent: `00-${traceId}-${parentSpan}-01`, tracestate: 'vendor=abc,other=1' });
    expect(context.traceId).toBe(traceId);
    expect(context.continued).toBe(true);
    const [, echoedTrace, span] = TRACEPARENT.exec(context.headers.traceparent!)!;
    expect(echoedTrace).toBe(traceId);
    expect(span).not.toBe(parentSpan);
    expect(context.headers.traceparent).toMatch(/-01$/);
    expect(context.headers.tracestate).toBe('vendor=abc,other=1');
  });

  it('passes on only the sampled bit of the flags', () => {
    expect(traceContextOf({ traceparent: `00-${hex(16)}-${hex(8)}-ff` }).headers.traceparent).toMatch(/-01$/);
    expect(traceContextOf({ traceparent: `00-${hex(16)}-${hex(8)}-02` }).headers.traceparent).toMatch(/-00$/);
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['garbage', 'not-a-traceparent'],
    ['upper-case hex', `00-${hex(16).toUpperCase()}-${hex(8)}-01`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${hex(8)}-01`],
    ['all-zero span id', `00-${hex(16)}-${'0'.repeat(16)}-01`],
    ['version ff', `ff-${hex(16)}-${hex(8)}-01`],
    ['version 00 with extra fields', `00-${hex(16)}-${hex(8)}-01-extra`],
    ['short trace id', `00-${hex(15)}-${hex(8)}-01`],
    ['two headers joined by Node', `00-${hex(16)}-${hex(8)}-01, 00-${hex(16)}-${hex(8)}-01`],
  ])('%s: ignored, a new trace starts', (_name, value) => {
    const context = traceContextOf(value === undefined ? {} : { traceparent: value, tracestate: 'vendor=abc' });
    expect(context.continued).toBe(false);
    expect(context.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(context.traceId).not.toBe('0'.repeat(32));
    expect(context.headers.traceparent).toMatch(TRACEPARENT);
    expect(context.headers.traceparent!.split('-')[1]).toBe(context.traceId);
    // A tracestate without a valid traceparent belongs to no trace.
    expect(context.headers.tracestate).toBeUndefined();
  });

  it('a later-version traceparent with extra fields is understood (forward compatibility)', () => {
    const traceId = hex(16);
    expect(traceContextOf({ traceparent: `01-${traceId}-${hex(8)}-01-future` }).traceId).toBe(traceId);
  });
});

describe('one pull followed from the caller to the audit record', () => {
  let stack: Stack;
  const keys = {} as Record<'team-dpop' | 'revoked' | 'operator', KeyPair>;
  const opToks = {} as Record<keyof typeof keys, string>;

  beforeAll(async () => {
    stack = await startStack();
    for (const client of ['team-dpop', 'revoked', 'operator'] as const) {
      keys[client] = await newDpopKeys();
      opToks[client] = await stack.authority.tokenWithDpop(client, keys[client]);
    }
  });
  afterAll(async () => {
    await stack?.close();
  });

  async function pull(client: keyof typeof keys, traceparent: string | undefined): Promise<RawResponse> {
    const url = tokenUrl(stack.url, { service: SERVICE, scope: ['repository:team/app:pull'] });
    const proof = await makeProof(keys[client], 'GET', url, opToks[client]);
    return callWithProof(url, { token: opToks[client], proof, headers: traceparent === undefined ? [] : [['traceparent', traceparent]] });
  }

  function decisionLine(requestId: string): Record<string, unknown> {
    const lines = stack.logs().split('\n').filter((line) => line.includes(requestId)).map((line) => JSON.parse(line) as Record<string, unknown>);
    const line = lines.find((entry) => entry.outcome !== undefined);
    expect(line, stack.logs()).toBeDefined();
    return line!;
  }

  async function audit(jti: string): Promise<Record<string, unknown>> {
    const url = `${stack.url}/admin/issuances/${jti}`;
    const res = await callWithProof(url, { token: opToks.operator, proof: await makeProof(keys.operator, 'GET', url, opToks.operator) });
    expect(res.status, res.body).toBe(200);
    return res.json();
  }

  it('an issued token: the caller trace id is answered, logged, recorded, audited and exported', async () => {
    const traceId = hex(16);
    const res = await pull('team-dpop', `00-${traceId}-${hex(8)}-01`);
    expect(res.status, res.body).toBe(200);
    expect(res.headers.traceparent).toMatch(TRACEPARENT);
    expect(String(res.headers.traceparent).split('-')[1]).toBe(traceId);
    const requestId = String(res.headers['x-request-id']);
    expect(decisionLine(requestId)).toMatchObject({ requestId, traceId, outcome: 'issued' });

    const jti = String(decodeJwt(res.json<{ token: string }>().token).payload.jti);
    expect(await stack.service.ledger.get(jti)).toMatchObject({ jti, traceId, requestId });
    expect(await audit(jti)).toMatchObject({ jti, traceId });

    const exported = spawnSync(process.execPath, [CLI, 'ledger', 'export', '--path', stack.config.ledger.driver === 'file' ? stack.config.ledger.path : ''], { encoding: 'utf8', timeout: 30_000 });
    expect(exported.status, exported.stderr).toBe(0);
    const records = exported.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.find((record) => record.jti === jti)).toMatchObject({ traceId, requestId });
  });

  it('a refusal with a malformed traceparent is refused for its own reason, under a new trace, recorded with it', async () => {
    const res = await pull('revoked', 'definitely-not-w3c');
    expect(res.status, res.body).toBe(403);
    expect(res.json<{ code: string }>().code).toBe('license_revoked');
    const traceId = String(res.headers.traceparent).split('-')[1]!;
    expect(res.headers.traceparent).toMatch(TRACEPARENT);
    const requestId = String(res.headers['x-request-id']);
    expect(decisionLine(requestId)).toMatchObject({ requestId, traceId, outcome: 'rejected', reason: 'license_revoked' });
    const { records } = await stack.service.ledger.query({ outcome: 'rejected', limit: 50 });
    expect(records.find((record) => record.requestId === requestId)).toMatchObject({ traceId, reason: 'license_revoked' });
  });

  it('every answer carries a traceparent, health probes and unknown routes included', async () => {
    for (const path of ['/healthz', '/no-such-endpoint']) {
      const res = await callWithProof(`${stack.url}${path}`);
      expect(res.headers.traceparent, path).toMatch(TRACEPARENT);
    }
  });
});

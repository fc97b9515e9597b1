/**
 * Customer data never reaches Temporal in clear: a canary address submitted through the API is absent
 * from `temporal workflow show` and from the dev server's SQLite bytes, and readable only through the
 * API's remote codec endpoint (with a token when tokens are configured).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startApi, type RunningApi } from '../../src/api/server';
import { temporalCli } from '../support/cli';
import { eventually, sampleOrder, type TestStack, startTestStack } from '../support/stack';

const CANARY = `Canary-${Date.now()}-Street`;
const TOKEN = 'test-token-for-the-codec';
let stack: TestStack;

/** The CLI's JSON output with every payload's base64 `data` decoded, as a reader would see it. */
function readable(cliJson: string): string {
  const decoded = [...cliJson.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1] ?? '', 'base64').toString('latin1'));
  return `${cliJson}\n${decoded.join('\n')}`;
}
let api: RunningApi;

beforeAll(async () => {
  stack = await startTestStack(__filename, { env: { API_TOKENS: TOKEN } });
  api = await startApi({ config: { ...stack.config, port: 0 }, client: stack.client, logger: false });
});
afterAll(async () => {
  await api?.close();
  await stack?.stop();
});

describe('payload encryption', () => {
  it('keeps a canary address out of histories and the server database, and shows it through the codec', async () => {
    const order = sampleOrder({ shippingAddress: { name: 'Canary Person', line1: CANARY, city: 'Birdtown', postalCode: '00000', country: 'US' } });
    const res = await fetch(`${api.url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(order),
    });
    expect(res.status).toBe(202);
    await eventually(async () => (await stack.status(order.orderId)).status === 'completed');
    const workflowId = `order-${order.orderId}`;

    // 1. The CLI without the codec sees ciphertext only.
    const plain = await temporalCli(stack.config, ['workflow', 'show', '--workflow-id', workflowId, '-o', 'json']);
    expect(plain).toContain(Buffer.from('binary/encrypted').toString('base64'));
    expect(readable(plain)).not.toContain(CANARY);
    expect(readable(plain)).not.toContain('ann@example.com');

    // 2. Nor is it on disk: the dev server's SQLite file and its WAL.
    const dir = inject('tmpRoot');
    const files = readdirSync(dir).filter((f) => f.startsWith('temporal.db'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const bytes = readFileSync(join(dir, f));
      expect(bytes.includes(Buffer.from(CANARY)), f).toBe(false);
      expect(bytes.includes(Buffer.from('ann@example.com')), f).toBe(false);
    }

    // 3. The remote codec endpoint decodes it for those with a token…
    const withCodec = await temporalCli(
      stack.config,
      ['workflow', 'show', '--workflow-id', workflowId, '-o', 'json', '--codec-auth', `Bearer ${TOKEN}`],
      { codecEndpoint: `${api.url}/codec` },
    );
    expect(readable(withCodec)).toContain(CANARY);

    // A query through the codec, as the README's CLI recipes do (its empty argument list is sent as `{}`).
    const queried = await temporalCli(
      stack.config,
      ['workflow', 'query', '--workflow-id', workflowId, '--type', 'status', '-o', 'json', '--codec-auth', `Bearer ${TOKEN}`],
      { codecEndpoint: `${api.url}/codec` },
    );
    expect(queried).toContain('"status": "completed"');

    // …and refuses those without.
    const denied = await fetch(`${api.url}/codec/decode`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"payloads":[]}' });
    expect(denied.status).toBe(401);
  });

  it('puts no personal data in search attributes', async () => {
    const order = sampleOrder();
    const res = await fetch(`${api.url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(order),
    });
    expect(res.status).toBe(202);
    const description = await stack.client.workflow.getHandle(`order-${order.orderId}`).describe();
    const attributes = JSON.stringify(description.typedSearchAttributes);
    expect(attributes).not.toContain(order.customer.email);
    expect(attributes).not.toContain(order.customer.name);
    expect(attributes).toContain(order.orderId);
  });
});

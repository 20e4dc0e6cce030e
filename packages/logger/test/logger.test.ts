import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/index.js';

function collect() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  it('names the service on every line and redacts secrets wherever they ride along', () => {
    const { lines, destination } = collect();
    const logger = createLogger({ service: 'worker', destination });
    logger.info(
      {
        req: { headers: { authorization: 'Bearer tenant-token-1', 'x-api-key': 'fitroom-key-1' } },
        fitroom: { apiKey: 'fitroom-key-2' },
        webhook: { secret: 'whsec_abc' },
        token: 'admin-token-1',
      },
      'hello',
    );
    const text = lines.join('');
    expect(JSON.parse(text)).toMatchObject({ service: 'worker', msg: 'hello' });
    for (const secret of [
      'tenant-token-1',
      'fitroom-key-1',
      'fitroom-key-2',
      'whsec_abc',
      'admin-token-1',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
  });
});

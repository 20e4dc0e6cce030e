import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Route of result downloads; a link is `${base}/_sim/results/<task_id>.jpg?expires=<ms>&signature=<hex>`. */
export const RESULTS_ROUTE = '/_sim/results/:file';

/**
 * Signs download links with a secret of this simulator instance. `expires` is wall-clock
 * epoch milliseconds (the TTL, FitRoom time, is divided by the time scale when signing), and
 * the signature is hex HMAC-SHA256 of `<task_id>.<expires>`.
 */
export class UrlSigner {
  constructor(private readonly secret: Buffer = randomBytes(32)) {}

  private signature(taskId: string, expires: string): Buffer {
    return createHmac('sha256', this.secret).update(`${taskId}.${expires}`).digest();
  }

  url(base: string, taskId: string, expiresMs: number): string {
    const expires = String(Math.ceil(expiresMs));
    const signature = this.signature(taskId, expires).toString('hex');
    return `${base}/_sim/results/${taskId}.jpg?expires=${expires}&signature=${signature}`;
  }

  verify(
    taskId: string,
    expires: unknown,
    signature: unknown,
    nowMs: number,
  ): 'ok' | 'bad-signature' | 'expired' {
    if (typeof expires !== 'string' || !/^\d{1,16}$/.test(expires)) return 'bad-signature';
    if (typeof signature !== 'string' || !/^[0-9a-f]{64}$/.test(signature)) return 'bad-signature';
    const expected = this.signature(taskId, expires);
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return 'bad-signature';
    return nowMs > Number(expires) ? 'expired' : 'ok';
  }
}

import { createHash } from 'node:crypto';

/** A stable, non-secret name for an API key: Redis keys and status pages never hold the key itself. */
export function budgetKeyFor(apiKey: string): string {
  return `key-${createHash('sha256').update(apiKey).digest('hex').slice(0, 12)}`;
}

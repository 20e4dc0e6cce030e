import { describe, expect, it } from 'vitest';
import {
  FitRoomClient,
  FitRoomRateLimitedError,
  describeModelCheckCode,
  extractFitRoomMessage,
  parseRetryAfter,
  redact,
  sniffImageFormat,
} from '../src/index';
import { parseClothesCheck, parseModelCheck, parseTask } from '../src/validate';
import { png } from './support';

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it('reads delay-seconds, decimals included', () => {
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('0.25', now)).toBe(250);
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter(['7', '9'], now)).toBe(7000);
  });
  it('reads an HTTP date, never negative', () => {
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:59:00 GMT', now)).toBe(0);
  });
  it('ignores what it cannot read', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-3', now)).toBeUndefined();
  });
});

describe('extractFitRoomMessage', () => {
  it('prefers message, then error (string or object), then detail, then raw text', () => {
    expect(extractFitRoomMessage('{"error":"Bad Request","message":"cloth_type is wrong"}')).toBe(
      'cloth_type is wrong',
    );
    expect(extractFitRoomMessage('{"error":"Payment Required"}')).toBe('Payment Required');
    expect(extractFitRoomMessage('{"error":{"code":7,"message":"nested"}}')).toBe('nested');
    expect(extractFitRoomMessage('{"detail":"Not authenticated"}')).toBe('Not authenticated');
    expect(extractFitRoomMessage('{"detail":[{"msg":"field required"},{"msg":"bad"}]}')).toBe(
      'field required; bad',
    );
    expect(extractFitRoomMessage('<html>502 Bad Gateway</html>')).toBe(
      '<html>502 Bad Gateway</html>',
    );
    expect(extractFitRoomMessage('')).toBeUndefined();
  });
  it('truncates and redacts', () => {
    const long = extractFitRoomMessage('x'.repeat(5000)) ?? '';
    expect(long.length).toBeLessThanOrEqual(501);
    expect(extractFitRoomMessage('{"message":"key sk-123 is wrong"}', ['sk-123'])).toBe(
      'key [redacted] is wrong',
    );
    expect(redact('a sk b sk', ['sk'])).toBe('a [redacted] b [redacted]');
  });
});

describe('describeModelCheckCode', () => {
  it('classifies 410xxx as warnings and 400xxx as errors', () => {
    expect(describeModelCheckCode('410001').severity).toBe('warning');
    expect(describeModelCheckCode(410003).description).toMatch(/pose may be not supported/);
    expect(describeModelCheckCode('400004')).toEqual({
      code: '400004',
      severity: 'error',
      description: 'Person is too small in the image',
    });
    expect(describeModelCheckCode('410099').severity).toBe('warning');
    expect(describeModelCheckCode('400099').severity).toBe('error');
    expect(describeModelCheckCode('123').severity).toBe('unknown');
  });
});

describe('response validation', () => {
  it('parses the document examples', () => {
    expect(
      parseTask({ task_id: '123456', status: 'CREATED', progress: 0, created_at: 1744707904 }),
    ).toEqual({ task_id: '123456', status: 'CREATED', progress: 0, created_at: 1744707904 });
    expect(
      parseTask({
        task_id: '123456',
        status: 'COMPLETED',
        download_signed_url: 'https://storage.googleapis.com/x/y',
        progress: 100,
        created_at: 1744707904,
        started_at: 1744707904,
        completed_at: 1744707912,
      }),
    ).toMatchObject({
      status: 'COMPLETED',
      download_signed_url: 'https://storage.googleapis.com/x/y',
    });
    expect(
      parseTask({ task_id: 1, status: 'FAILED', error: 'Failed to process try-on task' }),
    ).toEqual({ task_id: '1', status: 'FAILED', error: 'Failed to process try-on task' });
    expect(parseModelCheck({ is_good: false, error_code: 400001, good_clothes_types: [] })).toEqual(
      {
        is_good: false,
        error_code: '400001',
        good_clothes_types: [],
      },
    );
    expect(parseClothesCheck({ clothes_type: 'full', is_clothes: true })).toEqual({
      clothes_type: 'full',
      is_clothes: true,
    });
  });
  it('rejects malformed answers', () => {
    expect(() => parseTask({ status: 'CREATED' })).toThrow(/task_id/);
    expect(() => parseTask({ task_id: '1', status: 'DONE' })).toThrow(/status/);
    expect(() => parseTask({ task_id: '1', status: 'COMPLETED' })).toThrow(/download_signed_url/);
    expect(() => parseTask([])).toThrow();
    expect(() => parseModelCheck({ good_clothes_types: [] })).toThrow(/is_good/);
    expect(() => parseClothesCheck({ clothes_type: 'upper' })).toThrow(/is_clothes/);
  });
});

describe('sniffImageFormat', () => {
  it('recognises PNG and JPEG and nothing else', () => {
    expect(sniffImageFormat(png(2, 2))?.contentType).toBe('image/png');
    expect(sniffImageFormat(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))?.ext).toBe('jpg');
    expect(sniffImageFormat(Buffer.from('hello'))).toBeUndefined();
  });
});

describe('FitRoomClient construction', () => {
  it('rejects bad options without echoing the key', () => {
    expect(() => new FitRoomClient({ baseUrl: 'not a url', apiKey: 'k-SECRET' })).toThrow(
      /baseUrl/,
    );
    expect(() => new FitRoomClient({ baseUrl: 'http://x', apiKey: '' })).toThrow(/apiKey/);
    expect(() => new FitRoomClient({ baseUrl: 'http://x', apiKey: 'k', timeoutMs: 0 })).toThrow(
      RangeError,
    );
    const client = new FitRoomClient({ baseUrl: 'http://127.0.0.1:1/', apiKey: 'k-SECRET' });
    expect(client.baseUrl).toBe('http://127.0.0.1:1');
    expect(client.keyId).toMatch(/^[0-9a-f]{12}$/);
    expect(JSON.stringify(client)).not.toContain('k-SECRET');
  });
  it('errors carry a stable code and their class name', () => {
    const err = new FitRoomRateLimitedError('x', { status: 429, retryAfterMs: 10 });
    expect(err).toMatchObject({ name: 'FitRoomRateLimitedError', code: 'rate_limited' });
    expect(err.retryAfterMs).toBe(10);
    expect(err).toBeInstanceOf(Error);
  });
});

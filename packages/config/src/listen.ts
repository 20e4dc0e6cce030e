/**
 * What a person starting the service needs to read when a port is taken: one line naming the
 * port and the setting that moves it, instead of EADDRINUSE's stack trace. Null for any other
 * error (those keep their stack).
 */
export function portInUseMessage(error: unknown, setting: string): string | null {
  const e = error as { code?: unknown; port?: unknown } | null;
  if (e?.code !== 'EADDRINUSE') return null;
  const port = typeof e.port === 'number' ? ` ${e.port}` : '';
  return `port${port} is in use (another \`pnpm start\`?), set ${setting}`;
}

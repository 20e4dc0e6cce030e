/** How the CLI words things for people: counts with the right noun, commands as the README runs them. */

/** "1 item", "2 items", "0 items"; `many` for irregular plurals. */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/**
 * A command to run next, spelled as the README runs it: `pnpm tryon` is the repository's
 * script for the CLI (there is no global `tryon` binary).
 */
export function tryonCommand(args: string): string {
  return `pnpm tryon ${args}`;
}

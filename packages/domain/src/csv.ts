/**
 * CSV per RFC 4180, written once for every CSV this workspace produces (the CLI's manifest,
 * the API's results export).
 */

/** One field: quoted when it holds a comma, quote, CR or LF (or edge spaces), quotes doubled. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) || value !== value.trim()
    ? `"${value.replaceAll('"', '""')}"`
    : value;
}

/**
 * A cell a spreadsheet must not run as a formula: one starting with = + - @ (or a tab or CR,
 * which some spreadsheets skip before looking) gets a leading apostrophe (OWASP's advice).
 */
export function defuseFormula(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

/** One record: fields escaped, joined by commas, ended by CRLF. */
export function csvLine(fields: readonly string[]): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}

/**
 * CI check of deploy/: the Grafana dashboard is valid JSON, the Prometheus rules valid YAML of
 * the rules-file shape, and every metric either names exists in the api's or the worker's
 * prom-client registry (taken from the registries themselves, not a hand list).
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { ApiMetrics } from '../services/api/src/metrics.js';
import { WorkerMetrics } from '../services/worker/src/metrics.js';

const root = new URL('..', import.meta.url);
const DASHBOARD = 'deploy/grafana/tryon-dashboard.json';
const RULES = 'deploy/prometheus/alerts.yml';

/** Every series name the services expose, histogram and summary parts included. */
function exposedNames(): Set<string> {
  // The sources below are only read when scraped; listing names never scrapes.
  const unread = null as never;
  const registries: ApiMetrics['registry'][] = [
    new ApiMetrics({ tryon: unread, webhooks: unread }, unread).registry,
    new WorkerMetrics({
      limiter: unread,
      budgetKeys: [],
      jobsRunning: () => ({}),
    }).registry,
  ];
  const names = new Set<string>();
  for (const registry of registries) {
    for (const metric of registry.getMetricsAsArray()) {
      const { name, type } = metric as unknown as { name: string; type: string };
      names.add(name);
      if (type === 'histogram' || type === 'summary') {
        for (const part of ['_bucket', '_sum', '_count']) names.add(name + part);
      }
    }
  }
  return names;
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
PROMQL_WORDS.add('and').add('or').add('unless').add('bool').add('offset');

/** Metric names in a PromQL expression: identifiers that are not functions, labels or words. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names: string[] = [];
  for (const match of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const before = bare[match.index - 1];
    if (before !== undefined && /[0-9.]/.test(before)) continue; // 0.5, 1e3 and the like
    const after = bare.slice(match.index + match[0].length).trimStart();
    if (after.startsWith('(')) continue; // a function or aggregation
    if (!PROMQL_WORDS.has(match[0])) names.push(match[0]);
  }
  return names;
}

function dashboardExprs(text: string): string[] {
  const dashboard = JSON.parse(text) as { panels?: { targets?: { expr?: string }[] }[] };
  if (!Array.isArray(dashboard.panels) || dashboard.panels.length === 0) {
    throw new Error(`${DASHBOARD}: no panels`);
  }
  return dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
}

function ruleExprs(text: string): string[] {
  const rules = parse(text) as { groups?: { rules?: { alert?: string; expr?: unknown }[] }[] };
  const all = (rules.groups ?? []).flatMap((g) => g.rules ?? []);
  if (all.length === 0) throw new Error(`${RULES}: no rules`);
  return all.map((rule) => {
    if (!rule.alert || typeof rule.expr !== 'string') {
      throw new Error(`${RULES}: every rule needs alert and expr`);
    }
    return rule.expr;
  });
}

const exposed = exposedNames();
const problems: string[] = [];
const files: [string, (text: string) => string[]][] = [
  [DASHBOARD, dashboardExprs],
  [RULES, ruleExprs],
];
for (const [file, exprsOf] of files) {
  const exprs = exprsOf(await readFile(new URL(file, root), 'utf8'));
  for (const expr of exprs) {
    const names = metricNames(expr);
    if (names.length === 0) problems.push(`${file}: no metric in ${JSON.stringify(expr)}`);
    for (const name of names) {
      if (!exposed.has(name)) problems.push(`${file}: unknown metric ${name} in ${expr.trim()}`);
    }
  }
  console.log(`${file}: ${exprs.length} expressions checked`);
}
if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  process.exit(1);
}

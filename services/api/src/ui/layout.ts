import { CSS_URL, JS_URL } from './assets.js';
import { html, type HtmlValue, type SafeHtml } from './html.js';

export interface LayoutOptions {
  title: string;
  body: HtmlValue;
  /** Who is signed in, for the header; null on the login page. */
  who?: { tenant: string | null; admin: boolean; canSignOut: boolean } | null;
}

export function layout({ title, body, who = null }: LayoutOptions): SafeHtml {
  const nav = who
    ? html`<nav>
          ${who.tenant !== null ? html`<a href="/ui">Batches</a>` : null}
          ${who.tenant !== null ? html`<a href="/ui/new">New batch</a>` : null}
          ${who.admin ? html`<a href="/ui/operator">Operator</a>` : null}
          ${who.admin ? html`<a href="/admin/queues">Queues</a>` : null}
        </nav>
        ${who.tenant !== null ? html`<span class="muted">tenant ${who.tenant}</span>` : null}
        ${
          who.canSignOut
            ? html`<form method="post" action="/ui/logout"><button>Sign out</button></form>`
            : null
        }`
    : null;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · Try-on batches</title>
        <link rel="stylesheet" href="${CSS_URL}" />
        <script src="${JS_URL}" defer></script>
      </head>
      <body>
        <header><span class="brand">Try-on batches</span>${nav}</header>
        <main>${body}</main>
      </body>
    </html>`;
}

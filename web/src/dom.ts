// A small DOM builder: the console is plain TypeScript, no framework.
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v as EventListener);
    } else if (v === true) {
      el.setAttribute(k, "");
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, ...children);
  return el;
}

export function append(el: Element, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el: Element): void {
  el.replaceChildren();
}

/** A read-only value with a Copy button. */
export function copyable(value: string, testid: string, secret = false): HTMLElement {
  const code = h("code", { "data-testid": testid, class: secret ? "secret" : "" }, secret ? "•".repeat(24) : value);
  let shown = !secret;
  const copy = h("button", { type: "button", class: "small", onclick: async () => {
    await navigator.clipboard?.writeText(value).catch(() => undefined);
    copy.textContent = "Copied";
    setTimeout(() => (copy.textContent = "Copy"), 1500);
  } }, "Copy");
  const reveal = secret
    ? h("button", { type: "button", class: "small", "data-testid": `${testid}-reveal`, onclick: () => {
        shown = !shown;
        code.textContent = shown ? value : "•".repeat(24);
        reveal!.textContent = shown ? "Hide" : "Show";
      } }, "Show")
    : null;
  return h("span", { class: "copyable" }, code, reveal, copy);
}

export function fmtTime(d?: Date): string {
  return d ? d.toLocaleString() : "—";
}

export function fmtDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  return hh ? `${hh}h ${mm}m ${ss}s` : mm ? `${mm}m ${ss}s` : `${ss}s`;
}

export function errorText(err: unknown): string {
  if (err && typeof err === "object") {
    const e = err as { name?: string; message?: string };
    if (e.name && e.message) return `${e.name}: ${e.message}`;
    if (e.message) return e.message;
  }
  return String(err);
}

export function badge(text: string, kind: string, testid?: string): HTMLElement {
  return h("span", { class: `badge ${kind}`, "data-testid": testid }, text);
}

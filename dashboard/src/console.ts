// The browser console: an xterm.js terminal on a WebSocket to the
// instance's console (GET /v1/instances/NAME/console, Upgrade: websocket).
// vsd sends the console's output as binary messages; the page sends keys
// as binary messages and its size as a text one, {"resize": {rows, cols}}.
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";

// vsd takes messages of up to 64 KiB: a paste goes in pieces
const CHUNK = 16 * 1024;

// xterm.js writes some of its rules (cell size, colours) into <style>
// elements at run time, which the dashboard's Content-Security-Policy
// (style-src 'self') does not apply; the same rules carried over into
// constructed style sheets are applied (CSP governs elements, not these).
function adoptStyles(root: HTMLElement): () => void {
  const sheets = new Map<HTMLStyleElement, { sheet: CSSStyleSheet; text: string }>();
  const sync = (): void => {
    for (const el of root.querySelectorAll("style")) {
      let s = sheets.get(el);
      if (!s) {
        s = { sheet: new CSSStyleSheet(), text: "" };
        sheets.set(el, s);
        document.adoptedStyleSheets = [...document.adoptedStyleSheets, s.sheet];
      }
      const text = el.textContent ?? "";
      if (text !== s.text) {
        s.text = text;
        s.sheet.replaceSync(text);
      }
    }
    for (const [el, s] of sheets)
      if (!el.isConnected) {
        sheets.delete(el);
        document.adoptedStyleSheets = document.adoptedStyleSheets.filter((x) => x !== s.sheet);
      }
  };
  const mo = new MutationObserver(sync);
  mo.observe(root, { childList: true, subtree: true, characterData: true });
  sync();
  return () => {
    mo.disconnect();
    const gone = new Set([...sheets.values()].map((s) => s.sheet));
    document.adoptedStyleSheets = document.adoptedStyleSheets.filter((x) => !gone.has(x));
  };
}

export interface ConsoleView {
  close(): void;
}

// Open NAME's console in box; state(text) tells how it goes.
export function openConsole(name: string, box: HTMLElement, state: (text: string) => void): ConsoleView {
  const term = new Terminal({ convertEol: false, cursorBlink: true, scrollback: 2000 });
  const fit = new FitAddon();
  term.loadAddon(fit);
  const unadopt = adoptStyles(box);
  term.open(box);
  const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${window.location.host}/v1/instances/${encodeURIComponent(name)}/console`);
  ws.binaryType = "arraybuffer";
  const enc = new TextEncoder();
  const send = (bytes: Uint8Array): void => {
    if (ws.readyState !== WebSocket.OPEN) return;
    for (let off = 0; off < bytes.length; off += CHUNK) ws.send(bytes.subarray(off, off + CHUNK));
  };
  const sendSize = (): void => {
    box.dataset.rows = `${term.rows}`;
    box.dataset.cols = `${term.cols}`;
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ resize: { rows: term.rows, cols: term.cols } }));
  };
  const refit = (): void => fit.fit();
  state("connecting…");
  ws.onopen = () => {
    state("attached");
    box.dataset.state = "open";
    refit();
    sendSize();
    term.focus();
  };
  ws.onmessage = (e: MessageEvent) => {
    if (e.data instanceof ArrayBuffer) term.write(new Uint8Array(e.data));
  };
  ws.onclose = (e: CloseEvent) => {
    box.dataset.state = "closed";
    state(e.code === 1001 ? "closed by vsd" : e.code === 1000 ? "closed" : `disconnected (${e.code})`);
  };
  term.onData((d) => send(enc.encode(d)));
  // mouse reports of old terminals: bytes as they are
  term.onBinary((d) => send(Uint8Array.from(d, (c) => c.charCodeAt(0) & 0xff)));
  term.onResize(sendSize);
  window.addEventListener("resize", refit);
  return {
    close(): void {
      window.removeEventListener("resize", refit);
      ws.onclose = null;
      ws.close(1000);
      term.dispose();
      unadopt();
      box.replaceChildren();
      delete box.dataset.state;
    },
  };
}

// The browser suite's driver: headless Debian Chromium through
// playwright-core, and the few moves a person makes in the classic Notebook
// UI (open a notebook with a kernel, type a cell, Shift+Enter, wait for its
// prompt). Every wait has a deadline; every step leaves a screenshot, and a
// failing step also leaves the page's HTML and the browser's console log.
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the suite with tests/browser/run.sh`);
  return v;
};

export const BASE = env("WASIPY_NOTEBOOK_URL");
const TOKEN = env("WASIPY_NOTEBOOK_TOKEN");
export const DISPLAY_NAME = env("WASIPY_KERNEL_DISPLAY_NAME");
const ARTIFACTS = env("WASIPY_BROWSER_ARTIFACTS");
const PROFILE = env("WASIPY_BROWSER_PROFILE");

// Deadlines, generous for a 2-core machine shared with other work.
export const KERNEL_START = 60_000; // a kernel is idle after this
export const CELL = 30_000; // a short cell has its final prompt after this
const ACTION = 15_000; // any click, fill or element wait

// The flags this machine's closed network needs (no background traffic to
// Google's hosts), and a fresh profile for every run.
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage",
];

/** A browser with one page, its console log, and screenshots named per suite. */
export class Session {
  static async open(suite) {
    const dir = `${PROFILE}-${suite}`;
    fs.rmSync(dir, { recursive: true, force: true });
    const context = await chromium.launchPersistentContext(dir, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1100, height: 800 },
      timeout: 60_000,
    });
    context.setDefaultTimeout(ACTION);
    return new Session(suite, context);
  }

  constructor(suite, context) {
    this.suite = suite;
    this.context = context;
    this.page = null;
    this.shot = 0;
    this.console = [];
    this.pages = [];
    context.on("page", (p) => this.watch(p));
    for (const p of context.pages()) this.watch(p);
  }

  watch(page) {
    this.pages.push(page);
    page.on("console", (m) => this.console.push(`[${new Date().toISOString()}] ${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => this.console.push(`[${new Date().toISOString()}] pageerror: ${e.stack || e}`));
  }

  /** Saves a screenshot of the notebook page as <suite>-NN-<name>.png. */
  async screenshot(name, opts = {}) {
    const file = path.join(ARTIFACTS, `${this.suite}-${String(++this.shot).padStart(2, "0")}-${name}.png`);
    if (opts.element) {
      await opts.element.screenshot({ path: file, timeout: ACTION });
      return file;
    }
    // The window down to the lowest thing shown (the notebook, the pager,
    // a dialog, the completer), not the empty page below it.
    const bottom = await this.page.evaluate(() => {
      const shown = ["#notebook-container", "#pager", ".modal-dialog", "#complete"]
        .flatMap((sel) => [...document.querySelectorAll(sel)])
        .filter((e) => e.offsetParent !== null || getComputedStyle(e).position === "fixed")
        .map((e) => e.getBoundingClientRect())
        .filter((r) => r.height > 0);
      return Math.max(0, ...shown.map((r) => r.bottom));
    });
    const { width, height } = this.page.viewportSize();
    const clip = { x: 0, y: 0, width, height: Math.min(height, Math.ceil(bottom) + 20) };
    await this.page.screenshot({ path: file, timeout: ACTION, clip });
    return file;
  }

  /** Runs one step: a screenshot when it passes; screenshot, page HTML and
   * console log when it fails (then rethrows). */
  async step(name, fn) {
    try {
      await fn();
    } catch (err) {
      const base = path.join(ARTIFACTS, `${this.suite}-FAILED-${name}`);
      try {
        if (this.page) {
          await this.page.screenshot({ path: `${base}.png`, timeout: ACTION });
          fs.writeFileSync(`${base}.html`, await this.page.content());
        }
      } catch (e) {
        this.console.push(`(saving the failed page failed: ${e})`);
      }
      fs.writeFileSync(`${base}.console.log`, this.console.join("\n") + "\n");
      console.error(`step ${name} failed; page, HTML and console log: ${base}.*`);
      throw err;
    }
    await this.screenshot(name);
  }

  async close() {
    await this.context.close();
  }

  /** Opens the notebook list, makes a new notebook with the wasipy kernel
   * from the "New" menu (it opens in a new tab, as for a person) and waits
   * until the kernel is idle. */
  async newNotebook() {
    const tree = this.context.pages()[0] ?? (await this.context.newPage());
    await tree.goto(`${BASE}/tree?token=${TOKEN}`, { timeout: 30_000 });
    await tree.locator("#new-buttons button.dropdown-toggle").click();
    const item = tree.locator("#new-menu li a", { hasText: DISPLAY_NAME });
    const [page] = await Promise.all([this.context.waitForEvent("page", { timeout: 30_000 }), item.click()]);
    this.page = page;
    await page.waitForLoadState("domcontentloaded", { timeout: 30_000 });
    await this.waitIdle(KERNEL_START);
    return page;
  }

  /** Waits until the toolbar's kernel indicator says idle and the kernel
   * name shown is wasipy's. */
  async waitIdle(timeout = CELL) {
    const p = this.page;
    await p.locator("#kernel_indicator_icon.kernel_idle_icon").waitFor({ state: "attached", timeout });
    const shown = (await p.locator("#kernel_indicator .kernel_indicator_name").textContent()).trim();
    if (shown !== DISPLAY_NAME) throw new Error(`the notebook shows kernel ${JSON.stringify(shown)}, not ${DISPLAY_NAME}`);
  }

  /** The code cells, in order. */
  cells() {
    return this.page.locator("#notebook-container .cell.code_cell");
  }

  /** Types code into the last cell (which must be empty) and presses
   * Shift+Enter; returns that cell. The text goes in as one insertion, as
   * a paste does, so CodeMirror's auto-indent and bracket closing do not
   * rewrite it. */
  async type(code) {
    const cells = this.cells();
    let cell = cells.nth((await cells.count()) - 1);
    // CodeMirror shows an empty line as a zero-width space.
    const empty = async (c) => (await c.locator(".CodeMirror-code").innerText()).replace(/\u200b/g, "").trim() === "";
    if (!(await empty(cell))) {
      // A step that failed left text behind: a new cell below (Esc, B).
      await cell.locator(".CodeMirror").click();
      const had = await cells.count();
      await this.page.keyboard.press("Escape");
      await this.page.keyboard.press("b");
      await until("a new cell", async () => (await cells.count()) > had, ACTION);
      cell = cells.nth(had);
      if (!(await empty(cell))) throw new Error("could not get an empty cell at the end of the notebook");
    }
    await cell.locator(".CodeMirror").click();
    await this.page.keyboard.insertText(code);
    return cell;
  }

  /** Runs code in a new cell with Shift+Enter and returns the cell, without
   * waiting for it to finish. */
  async start(code) {
    const cell = await this.type(code);
    await this.page.keyboard.press("Shift+Enter");
    return cell;
  }

  /** Runs code with Shift+Enter and waits for the cell's final prompt
   * (`In [n]:`, no longer `In [*]:`); returns the cell and n. */
  async run(code, timeout = CELL) {
    const cell = await this.start(code);
    const n = await this.finished(cell, timeout);
    return { cell, n };
  }

  /** Waits for a cell's prompt to show its execution count; returns it. */
  async finished(cell, timeout = CELL) {
    const prompt = cell.locator(".input_prompt");
    const deadline = Date.now() + timeout;
    for (;;) {
      const text = (await prompt.innerText()).replace(/\s+/g, " ");
      const m = /In \[(\d+)\]/.exec(text);
      if (m) return Number(m[1]);
      if (Date.now() > deadline) throw new Error(`the cell did not finish within ${timeout} ms (prompt ${text})`);
      await this.page.waitForTimeout(50);
    }
  }
}

/** Polls fn until it returns a truthy value; fails after timeout with what
 * was last seen. */
export async function until(what, fn, timeout = CELL, every = 50) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

// What a cell's outputs look like in the Notebook on wasipy: streams,
// prompts, rich display, in-place updates and tracebacks, each asserted on
// the rendered page (DOM), in one notebook, one cell per step.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Session, until, KERNEL_START } from "./notebook.mjs";

let s;
before(async () => {
  s = await Session.open("outputs");
  await s.newNotebook();
}, { timeout: KERNEL_START + 30_000 });
after(async () => {
  await s?.close();
});

/** The cell's output areas as [class list of the subarea, its text]. */
const outputs = (cell) =>
  cell.locator(".output_subarea").evaluateAll((els) => els.map((e) => [e.className, e.innerText]));

/** The cell's output texts once they equal want, or what they are after
 * `ms`: a cell's prompt number comes with its execute_reply (shell), its
 * outputs on iopub, and the notebook server does not order the two. */
const settledOutputs = async (cell, want, ms = 10_000) => {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = (await outputs(cell)).map(([, t]) => t.trim());
    if (JSON.stringify(got) === JSON.stringify(want) || Date.now() > deadline) return got;
    await s.page.waitForTimeout(50);
  }
};

/** Whether the cell's prompt still says it runs (`In [*]:`). */
const running = async (cell) => (await cell.locator(".input_prompt").innerText()).includes("*");

// Promise: a cell's stdout and stderr lines show in the order they were written, each stream in
// its own area, stderr on Notebook's red tint.
test("stdout and stderr appear in order, stderr styled as stderr", async () => {
  await s.step("streams", async () => {
    const { cell } = await s.run(
      "import sys\nprint('out 1')\nprint('err 1', file=sys.stderr)\nprint('out 2')\nprint('err 2', file=sys.stderr)");
    const got = await outputs(cell);
    assert.deepEqual(got.map(([cls, text]) => [cls.includes("output_stderr") ? "stderr" : "stdout", text.trim()]),
      [["stdout", "out 1"], ["stderr", "err 1"], ["stdout", "out 2"], ["stderr", "err 2"]]);
    // Notebook's stylesheet gives stderr a red background; stdout has none.
    const bg = await cell.locator(".output_stderr").first().evaluate((e) => getComputedStyle(e).backgroundColor);
    const plain = await cell.locator(".output_stdout").first().evaluate((e) => getComputedStyle(e).backgroundColor);
    assert.notEqual(bg, plain, "stderr is not styled apart from stdout");
    assert.match(bg, /^rgb\(255, \d+, \d+\)$/, `stderr background ${bg} is not the red tint`);
  });
});

// Promise: while a cell runs, its printed lines reach the page as they are printed (3+ partial
// states seen), not all at the end.
test("a running cell's lines appear one by one", async () => {
  await s.step("live-stream", async () => {
    const cell = await s.start("import time\nfor i in range(6):\n    print(f'line {i}', flush=True)\n    time.sleep(0.4)");
    // Sample the page while the prompt says the cell runs.
    const seen = new Set();
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const text = await cell.locator(".output_area").allInnerTexts();
      const lines = text.join("").split("\n").filter((l) => l.startsWith("line "));
      if (!(await running(cell))) break;
      seen.add(lines.length);
      await s.page.waitForTimeout(50);
    }
    await s.finished(cell);
    const partial = [...seen].filter((n) => n > 0 && n < 6);
    assert.ok(partial.length >= 3,
      `while the cell ran the page showed ${[...seen].sort()} lines: output was not live (want 3+ partial states)`);
    const final = (await cell.locator(".output_stdout").innerText()).trim().split("\n");
    assert.deepEqual(final, ["line 0", "line 1", "line 2", "line 3", "line 4", "line 5"]);
  });
});

// Promise: a cell's value shows as its result with Out[n] equal to the cell's In[n], and counts
// go up by one per cell.
test("results carry Out[n] prompts matching In[n], counting up", async () => {
  await s.step("out-prompt", async () => {
    const a = await s.run("6 * 7");
    const b = await s.run("'wasi' + 'py'");
    assert.equal(b.n, a.n + 1);
    for (const [{ cell, n }, value] of [[a, "42"], [b, "'wasipy'"]]) {
      const prompt = (await cell.locator(".output_prompt").innerText()).trim();
      assert.equal(prompt, `Out[${n}]:`);
      assert.equal((await cell.locator(".output_result").innerText()).trim(), value);
    }
  });
});

// Promise: text/html from display(HTML(...)) and from _repr_html_ renders as real table
// elements; the latter is the cell's Out[n] result.
test("HTML tables from display(HTML(...)) and _repr_html_ render as tables", async () => {
  await s.step("html-table", async () => {
    const { cell, n } = await s.run([
      "from IPython.display import display, HTML",
      "display(HTML('<table class=\"shown\"><tr><th>language</th><th>runs in</th></tr>'",
      "             '<tr><td>Python 3.13</td><td>wazero</td></tr></table>'))",
      "class Table:",
      "    def _repr_html_(self):",
      "        return '<table class=\"repr\"><tr><td>from</td><td>_repr_html_</td></tr></table>'",
      "Table()",
    ].join("\n"));
    const rows = (sel) => cell.locator(`.output_html table.${sel} tr`).evaluateAll(
      (trs) => trs.map((tr) => [...tr.children].map((c) => [c.tagName, c.innerText.trim()])));
    assert.deepEqual(await rows("shown"), [[["TH", "language"], ["TH", "runs in"]], [["TD", "Python 3.13"], ["TD", "wazero"]]]);
    assert.deepEqual(await rows("repr"), [[["TD", "from"], ["TD", "_repr_html_"]]]);
    // The _repr_html_ one is the cell's result, with its Out prompt.
    const result = cell.locator(".output_area", { has: s.page.locator("table.repr") });
    assert.equal((await result.locator(".output_prompt").innerText()).trim(), `Out[${n}]:`);
  });
});

// Promise: image/png shows as an <img> with the image's own pixel size (96x48); image/svg+xml
// renders as inline SVG at its size.
test("a PNG shows at its real pixel size; SVG renders as SVG", async () => {
  await s.step("png-svg", async () => {
    // A 96x48 gradient PNG made in the cell (zlib and struct only).
    const { cell } = await s.run([
      "import struct, zlib",
      "from IPython.display import Image, SVG, display",
      "def png(w, h):",
      "    raw = b''.join(b'\\0' + bytes(v for x in range(w) for v in (x * 255 // w, y * 255 // h, 160)) for y in range(h))",
      "    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))",
      "    return (b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))",
      "            + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))",
      "display(Image(data=png(96, 48)))",
      "display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"120\" height=\"60\">'",
      "            '<circle cx=\"30\" cy=\"30\" r=\"25\" fill=\"#e66\"/><rect x=\"70\" y=\"10\" width=\"40\" height=\"40\" fill=\"#66e\"/></svg>'))",
    ].join("\n"));
    const img = cell.locator(".output_png img");
    await until("the PNG to load", () => img.evaluate((e) => e.complete && e.naturalWidth > 0));
    const size = await img.evaluate((e) => [e.naturalWidth, e.naturalHeight, e.width, e.height, e.src.slice(0, 22)]);
    assert.deepEqual(size, [96, 48, 96, 48, "data:image/png;base64,"]);
    const svg = cell.locator(".output_svg svg");
    assert.equal(await svg.locator("circle").count(), 1);
    assert.equal(await svg.locator("rect").count(), 1);
    const box = await svg.boundingBox();
    assert.deepEqual([Math.round(box.width), Math.round(box.height)], [120, 60]);
  });
});

// Promise: text/markdown renders to HTML (bold, code, emphasis) and text/latex is typeset by
// MathJax, its TeX source no longer shown.
test("Markdown renders; LaTeX is typeset by MathJax", async () => {
  await s.step("markdown-latex", async () => {
    const { cell } = await s.run([
      "from IPython.display import Markdown, Math, display",
      "display(Markdown('**bold** and `code` from *wasipy*'))",
      "display(Math(r'\\int_0^1 x^2\\,dx = \\frac{1}{3}'))",
    ].join("\n"));
    const md = cell.locator(".output_markdown");
    assert.equal(await md.locator("strong").innerText(), "bold");
    assert.equal(await md.locator("code").innerText(), "code");
    assert.equal(await md.locator("em").innerText(), "wasipy");
    // MathJax 2 (Debian's libjs-mathjax) replaces the TeX with its own
    // elements; the source stays only in a hidden script tag.
    const typeset = cell.locator(".output_latex").locator(".MathJax_Display, .MathJax, .MathJax_SVG, .MathJax_CHTML");
    await typeset.first().waitFor({ state: "visible", timeout: 30_000 });
    const text = await cell.locator(".output_latex").innerText();
    assert.ok(!text.includes("\\frac"), `the TeX source is still shown: ${text}`);
    await s.page.waitForTimeout(300); // MathJax's fade-in, for the screenshot
  });
});

// Promise: update_display replaces the earlier output in its own cell, leaving one output there
// and none in the updating cell.
test("update_display replaces an output in place", async () => {
  await s.step("update-display", async () => {
    const first = await s.run("h = display('first version', display_id=True)");
    assert.deepEqual(await settledOutputs(first.cell, ["'first version'"]), ["'first version'"]);
    const second = await s.run("h.update('second version')");
    assert.deepEqual(await settledOutputs(first.cell, ["'second version'"]), ["'second version'"]);
    assert.equal(await second.cell.locator(".output_subarea").count(), 0);
  });
});

// Promise: clear_output(wait=True) in a loop shows one output at a time whose counter goes up
// while the cell runs, ending at the last value.
test("clear_output(wait=True) animates a counter in one output", async () => {
  await s.step("clear-output", async () => {
    const cell = await s.start([
      "from IPython.display import clear_output",
      "import time",
      "for i in range(8):",
      "    clear_output(wait=True)",
      "    print(f'count {i}')",
      "    time.sleep(0.3)",
    ].join("\n"));
    const seen = [];
    let most = 0;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (await running(cell))) {
      const texts = (await outputs(cell)).map(([, t]) => t.trim());
      most = Math.max(most, texts.length);
      if (texts.length === 1 && texts[0] !== seen.at(-1)) seen.push(texts[0]);
      await s.page.waitForTimeout(40);
    }
    await s.finished(cell);
    assert.ok(most <= 1, `the page showed ${most} outputs at once: clear_output(wait=True) did not replace`);
    const counts = seen.map((t) => Number(/^count (\d)$/.exec(t)?.[1]));
    assert.ok(counts.length >= 3, `the counter was seen at ${seen}: not animated`);
    assert.deepEqual(counts, [...counts].sort(), `the counter went backwards: ${seen}`);
    assert.deepEqual((await outputs(cell)).map(([, t]) => t.trim()), ["count 7"]);
  });
});

// Promise: an error's traceback shows the exception, its message, the user's lines, in colored
// spans (no raw ANSI codes), the exception name in red.
test("a traceback shows in color, with the user's line and the exception", async () => {
  await s.step("traceback", async () => {
    const { cell } = await s.run("def divide(a, b):\n    return a / b\n\ndivide(1, 0)");
    const err = cell.locator(".output_error");
    const text = await err.innerText();
    for (const want of ["ZeroDivisionError", "division by zero", "return a / b", "divide(1, 0)"]) {
      assert.ok(text.includes(want), `the traceback lacks ${JSON.stringify(want)}:\n${text}`);
    }
    assert.ok(!/\x1b|\[0;3\dm/.test(text), `raw ANSI codes are shown:\n${text}`);
    // Notebook turns the ANSI escapes into spans with ansi-* classes.
    const colors = await err.locator("span[class*='ansi-']").evaluateAll(
      (spans) => [...new Set(spans.map((e) => getComputedStyle(e).color))]);
    assert.ok(colors.length >= 2, `the traceback has ${colors.length} colors: ${colors}`);
    const name = await err.locator("span[class*='ansi-red']", { hasText: "ZeroDivisionError" }).count();
    assert.ok(name >= 1, "the exception's name is not in red");
  });
});

// Help while typing: `obj?` opens the Notebook's pager (the kernel's `page`
// payload), and Tab asks the kernel for completions. Asserted on the page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Session, until, KERNEL_START } from "./notebook.mjs";

let s;
before(async () => {
  s = await Session.open("assist");
  await s.newNotebook();
}, { timeout: KERNEL_START + 30_000 });
after(async () => {
  await s?.close();
});

/** The text of the cell's editor, without CodeMirror's zero-width spaces. */
const source = async (cell) => (await cell.locator(".CodeMirror-code").innerText()).replace(/\u200b/g, "");

// Promise: `obj?` opens the pager with the signature and docstring in colored fields and no
// output in the cell; `obj??` adds the source; Esc closes it.
test("obj? opens the pager with the inspection, not output in the cell", async () => {
  await s.step("pager", async () => {
    await s.run("def greet(name, punctuation='!'):\n    '''Say hello to someone.'''\n    return 'hello ' + name + punctuation");
    const { cell } = await s.run("greet?");
    const pager = s.page.locator("#pager");
    await pager.waitFor({ state: "visible" });
    // It slides open: wait until its height holds still.
    let height = -1;
    await until("the pager to open", async () => {
      const h = (await pager.boundingBox())?.height ?? 0;
      const still = h > 60 && h === height;
      height = h;
      return still;
    }, 10_000, 200);
    const text = await s.page.locator("#pager-contents").innerText();
    for (const want of ["Signature:", "greet(name, punctuation='!')", "Docstring:", "Say hello to someone."]) {
      assert.ok(text.includes(want), `the pager lacks ${JSON.stringify(want)}:\n${text}`);
    }
    assert.ok(!text.includes("return 'hello '"), "greet? shows the source (only greet?? should)");
    // The field titles' ANSI red is turned into styled spans.
    assert.ok(await s.page.locator("#pager-contents span[class*='ansi-red']", { hasText: "Signature:" }).count() >= 1,
      "the pager's titles are not colored");
    assert.equal(await cell.locator(".output_subarea").count(), 0, "the inspection was also shown as output");
  });
  await s.step("pager-source", async () => {
    await s.run("greet??");
    await until("the pager to show the source", async () =>
      (await s.page.locator("#pager-contents").innerText()).includes("return 'hello ' + name + punctuation"));
  });
  await s.step("pager-closed", async () => {
    // Esc in command mode closes the pager.
    await s.page.keyboard.press("Escape");
    await s.page.keyboard.press("Escape");
    await s.page.locator("#pager").waitFor({ state: "hidden" });
  });
});

// Promise: Tab completes `import js` to `import json` in place (one match); after `os.pa` it
// pops up os's names starting with `pa`, and one chosen with the keyboard is inserted and runs.
test("Tab completes: import js becomes import json; os.pa pops up os's names", async () => {
  await s.step("complete-single", async () => {
    // One match: Notebook completes in place, without a popup.
    const cell = await s.type("import js");
    await s.page.keyboard.press("Tab");
    await until("import js to become import json", async () => (await source(cell)).trim() === "import json", 10_000);
    await s.page.keyboard.press("Shift+Enter");
    await s.finished(cell);
  });
  await s.step("complete-popup", async () => {
    await s.run("import os");
    await s.type("os.pa");
    await s.page.keyboard.press("Tab");
    const popup = s.page.locator("#complete select");
    await popup.waitFor({ state: "visible", timeout: 10_000 });
    const items = await popup.locator("option").allInnerTexts();
    for (const want of ["pardir", "path", "pathsep"]) {
      assert.ok(items.includes(want), `the completer lacks ${want}: ${items}`);
    }
    assert.ok(items.every((i) => i.startsWith("pa")), `the completer offers names not starting with pa: ${items}`);
  });
  await s.step("complete-chosen", async () => {
    // Pick "pathsep" with the keyboard, as a person does.
    const items = await s.page.locator("#complete select option").allInnerTexts();
    // The cell by index: Shift+Enter adds a new last cell.
    const cell = s.cells().nth((await s.cells().count()) - 1);
    for (let i = 0; i < items.indexOf("pathsep"); i++) await s.page.keyboard.press("ArrowDown");
    await s.page.keyboard.press("Enter");
    await until("os.pa to become os.pathsep", async () => (await source(cell)).trim() === "os.pathsep", 10_000);
    await s.page.keyboard.press("Shift+Enter");
    await s.finished(cell);
    assert.equal((await cell.locator(".output_result").innerText()).trim(), "':'");
  });
});

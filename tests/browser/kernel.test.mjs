// The kernel as a person drives it from the Notebook's page: input() and its
// box, the toolbar's interrupt button on a spinning cell, and the restart
// button with its dialog. Asserted on the rendered page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Session, until, KERNEL_START, CELL } from "./notebook.mjs";

let s;
before(async () => {
  s = await Session.open("kernel");
  await s.newNotebook();
}, { timeout: KERNEL_START + 30_000 });
after(async () => {
  await s?.close();
});

const toolbar = (action) => s.page.locator(`#maintoolbar button[data-jupyter-action="jupyter-notebook:${action}"]`);

// Promise: input() shows Notebook's input box with the prompt and the focus; what is typed
// there and sent with Enter is what the cell receives.
test("input() shows a box; what is typed there reaches the cell", async () => {
  await s.step("input", async () => {
    const cell = await s.start("name = input('name? ')\nprint(f'hello {name}')");
    const box = cell.locator(".raw_input_container");
    await box.waitFor({ state: "visible", timeout: CELL });
    assert.equal((await box.locator(".raw_input_prompt").innerText()).trim(), "name?");
    const field = box.locator("input.raw_input");
    // The box takes the focus: typing goes there without a click.
    await until("the input box to have the focus", () => field.evaluate((e) => document.activeElement === e), 5_000);
    await s.page.keyboard.type("Ada Lovelace", { delay: 20 });
    await s.screenshot("input-typed");
    await s.page.keyboard.press("Enter");
    await s.finished(cell);
    const text = await cell.locator(".output_stdout").innerText();
    // Notebook echoes the prompt and the answer, then the cell's print.
    assert.deepEqual(text.trim().split("\n"), ["name? Ada Lovelace", "hello Ada Lovelace"]);
    assert.equal(await cell.locator("input.raw_input").count(), 0, "the input box is still there");
  });
});

// Promise: the toolbar's interrupt button stops `while True: pass` with KeyboardInterrupt on
// the page within 1 s of the click, and the session's variables survive.
test("the toolbar's interrupt button stops while True: pass within a second; state survives", async () => {
  await s.step("interrupt", async () => {
    await s.run("kept = 41");
    const cell = await s.start("while True:\n    pass");
    await s.page.locator("#kernel_indicator_icon.kernel_busy_icon").waitFor({ state: "attached", timeout: CELL });
    await s.page.waitForTimeout(500); // it really spins
    assert.ok((await cell.locator(".input_prompt").innerText()).includes("*"), "the cell is not running");
    const clicked = Date.now();
    await toolbar("interrupt-kernel").click();
    const err = cell.locator(".output_error");
    await err.waitFor({ state: "visible", timeout: CELL });
    const took = Date.now() - clicked;
    await s.finished(cell);
    const text = await err.innerText();
    assert.ok(text.includes("KeyboardInterrupt"), `no KeyboardInterrupt shown:\n${text}`);
    assert.ok(took < 1000, `the interrupt took ${took} ms from the click to the traceback on the page`);
    console.log(`interrupt: ${took} ms from the click to KeyboardInterrupt on the page`);
    const { cell: next } = await s.run("print(kept + 1)");
    assert.equal((await next.locator(".output_stdout").innerText()).trim(), "42");
  });
});

// Promise: the toolbar's restart button asks in a dialog; confirming gives a fresh kernel
// (earlier variables gone, counting from 1).
test("the toolbar's restart button asks, then gives a fresh kernel", async () => {
  await s.step("restart-dialog", async () => {
    await s.run("before_restart = 'set'");
    await toolbar("confirm-restart-kernel").click();
    const dialog = s.page.locator(".modal-dialog", { hasText: "Restart kernel?" });
    await dialog.waitFor({ state: "visible" });
    // Bootstrap slides the dialog in: wait until it is in place.
    await until("the dialog to settle", () => dialog.evaluate((e) =>
      ["none", "matrix(1, 0, 0, 1, 0, 0)"].includes(getComputedStyle(e).transform)
      && getComputedStyle(e.closest(".modal")).opacity === "1"), 5_000);
    assert.ok((await dialog.innerText()).includes("All variables will be lost"));
  });
  await s.step("restarted", async () => {
    const dialog = s.page.locator(".modal-dialog", { hasText: "Restart kernel?" });
    const from = s.console.length;
    await dialog.locator("button.btn-danger", { hasText: "Restart" }).click();
    await dialog.waitFor({ state: "hidden" });
    // The page logs the kernel's lifecycle: restarting, then ready again.
    const logged = (what) => s.console.slice(from).findIndex((l) => l.includes(`Kernel: ${what}`));
    await until("the restarted kernel to be ready", () => logged("kernel_restarting") >= 0
      && logged("kernel_ready") > logged("kernel_restarting"), KERNEL_START);
    await s.waitIdle(KERNEL_START);
    const { cell, n } = await s.run("print('before_restart' in globals())");
    assert.equal((await cell.locator(".output_stdout").innerText()).trim(), "False");
    assert.equal(n, 1, "a fresh kernel counts from 1");
  });
});

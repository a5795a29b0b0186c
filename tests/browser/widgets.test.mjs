// ipywidgets in the Notebook on wasipy (Debian's python3-ipywidgets, mounted
// with --path by run.sh, and its notebook extension): a slider renders, a
// real mouse drag reaches the kernel, and the kernel moves the slider.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Session, until, KERNEL_START, CELL } from "./notebook.mjs";

let s;
before(async () => {
  s = await Session.open("widgets");
  await s.newNotebook();
}, { timeout: KERNEL_START + 30_000 });
after(async () => {
  await s?.close();
});

// Promise: an IntSlider renders as a slider; a real mouse drag changes the value the kernel
// has, and setting .value in a cell moves the handle to that place.
test("IntSlider renders; dragging it and setting .value sync both ways", async () => {
  let cell;
  const readout = () => cell.locator(".widget-readout");
  const value = async () => Number((await readout().innerText()).trim());
  const handle = () => cell.locator(".ui-slider-handle");

  await s.step("widgets-handshake", async () => {
    // ipywidgets 6's extension checks the kernel's widget version when the
    // page connects, before any cell imported ipywidgets (so the kernel
    // has no handler yet), and a widget then warns "Widget Javascript not
    // detected ... Reconnecting the current kernel may help." Do as it
    // says: import ipywidgets, then Kernel > Reconnect.
    await s.run("import ipywidgets", 60_000);
    const from = s.console.length;
    await s.page.locator("#kernellink").click();
    await s.page.locator("#reconnect_kernel a").click();
    await until("the widget version handshake", () =>
      s.console.slice(from).some((l) => l.includes("Widget backend and frontend versions are compatible")), CELL);
    await s.waitIdle();
  });

  await s.step("slider", async () => {
    ({ cell } = await s.run("from ipywidgets import IntSlider\n"
      + "slider = IntSlider(value=10, min=0, max=100, description='level')\nslider", 60_000));
    await handle().waitFor({ state: "visible", timeout: CELL });
    assert.equal((await cell.locator(".widget-label").first().innerText()).trim(), "level");
    assert.equal(await value(), 10);
    assert.equal(await cell.locator(".output_stderr").count(), 0, await cell.locator(".output").innerText());
  });

  let dragged;
  await s.step("slider-dragged", async () => {
    // Press on the handle and move the mouse three quarters along the track.
    const track = await cell.locator(".ui-slider").boundingBox();
    const h = await handle().boundingBox();
    await s.page.mouse.move(h.x + h.width / 2, h.y + h.height / 2);
    await s.page.mouse.down();
    await s.page.mouse.move(track.x + track.width * 0.75, h.y + h.height / 2, { steps: 12 });
    await s.page.mouse.up();
    dragged = await value();
    assert.ok(dragged >= 65 && dragged <= 85, `the drag left the slider at ${dragged}, not near 75`);
    const { cell: next } = await s.run("print(slider.value)");
    assert.equal((await next.locator(".output_stdout").innerText()).trim(), String(dragged),
      "the kernel does not have the value the slider shows");
  });

  await s.step("slider-set-from-kernel", async () => {
    const before = (await handle().boundingBox()).x;
    await s.run("slider.value = 20");
    await until("the readout to show 20", async () => (await value()) === 20, CELL);
    const after = (await handle().boundingBox()).x;
    const track = await cell.locator(".ui-slider").boundingBox();
    assert.ok(after < before, `the handle did not move left (${before} -> ${after})`);
    const at = (after + (await handle().boundingBox()).width / 2 - track.x) / track.width;
    assert.ok(Math.abs(at - 0.2) < 0.05, `the handle is at ${at.toFixed(2)} of the track, not 0.20`);
  });
});

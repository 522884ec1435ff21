// The course in a real JupyterLab, driven in Debian's Chromium (playwright-core), as an
// instructor and a student use it. Used by tests/test_lab.py, which starts the server; prints a
// JSON report on stdout.
//
//   node tools/lab_check.mjs --modules build/web-*/node_modules --url http://127.0.0.1:8888/ \
//        --token T --files . --rise 00_intro.ipynb --explorers 12_x.ipynb --save student/01.ipynb
//
//   --files DIR        the file browser's listing of DIR (the .py side of each pair must be hidden)
//   --rise A,B         open each as a live RISE deck (jupyterlab-rise's /rise/ page) and count
//                      its slides; in the first, run the first code cell from the deck and read
//                      its output
//   --explorers A,B    open each notebook in JupyterLab, run all cells, then in every cell that
//                      builds an explorer (lecture_utils.explorers.*_explorer) check the widget and
//                      its figure render, move one control and time until the figure changes
//   --save NB          open NB and save it (a student's notebook must not gain a .py pair)
//   --screenshots DIR  a picture of each view
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const key = process.argv[i].replace(/^--/, "");
  const next = process.argv[i + 1];
  if (next === undefined || next.startsWith("--")) args[key] = true;
  else { args[key] = next; i++; }
}
const require = createRequire(path.resolve(args.modules, "..", "package.json"));
const { chromium } = require("playwright-core");
const base = args.url.endsWith("/") ? args.url : `${args.url}/`;
const token = args.token;
const withToken = (p) => `${base}${p}${p.includes("?") ? "&" : "?"}token=${token}`;
const shots = args.screenshots ? path.resolve(args.screenshots) : null;
if (shots) fs.mkdirSync(shots, { recursive: true });
const timeout = Number(args.timeout || 600) * 1000;
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "lecture-lab-chromium-"));

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: args.chromium || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1440, height: 900 },
});

const report = { chromium: context.browser()?.version?.() ?? null };
const watch = (page, r) => {
  r.errors = [];
  page.on("pageerror", (e) => r.errors.push(String(e).slice(0, 300)));
  r.external = [];
  page.on("request", (q) => {
    const u = q.url();
    if (!u.startsWith(base) && !/^(data|blob|about|ws|wss):/.test(u)) r.external.push(u.slice(0, 200));
  });
};

async function openLab(page, where) {
  await page.goto(withToken(where), { waitUntil: "domcontentloaded", timeout: 300000 });
  await page.waitForFunction(() => window.jupyterapp && window.jupyterapp.shell &&
                             document.querySelector("#jp-main-dock-panel"), null, { timeout: 300000 });
  await page.evaluate(() => window.jupyterapp.restored);
}

// The notebook panel of the current tab, once its kernel is ready.
async function openNotebook(page, nb) {
  await openLab(page, `lab/tree/${encodeURI(nb)}`);
  await page.waitForFunction((nb) => {
    const w = window.jupyterapp.shell.currentWidget;
    return w && w.context && w.context.path.endsWith(nb) && w.content && w.content.model &&
           w.sessionContext && w.sessionContext.isReady;
  }, nb, { timeout: 300000 });
}

// Open a notebook as jupyterlab-rise's live deck (its /rise/ page, what Alt+R shows in a panel);
// with ``run``, run the first code cell from the deck (Shift+Enter) and read its output.
async function riseDeck(nb, run) {
  const page = await context.newPage();
  const r = {};
  watch(page, r);
  const t0 = Date.now();
  await page.goto(withToken(`rise/${encodeURI(nb)}`), { waitUntil: "domcontentloaded", timeout: 300000 });
  await page.waitForSelector(".reveal .slides section", { state: "attached", timeout: 300000 });
  await page.waitForFunction(() => document.querySelector(".reveal .slides section.present"), null,
                             { timeout: 300000 });
  r.seconds_to_deck = (Date.now() - t0) / 1000;
  r.sections = await page.evaluate(() => document.querySelectorAll(".reveal .slides section").length);
  r.horizontal = await page.evaluate(() => document.querySelectorAll(".reveal .slides > section").length);
  r.code_cells = await page.evaluate(() => document.querySelectorAll(".reveal .jp-CodeCell").length);
  if (run && r.code_cells) {
    // Go to the code cell's slide as a presenter does: the space bar, slide after slide.
    r.keys = 0;
    for (; r.keys < 20; r.keys++) {
      const here = await page.evaluate(() => {
        const sec = document.querySelector(".reveal .jp-CodeCell").closest("section");
        return sec.classList.contains("present");
      });
      if (here) break;
      if (r.keys === 0) await page.locator(".reveal .slides section.present").first().click({ force: true }).catch(() => {});
      await page.keyboard.press("Escape");
      await page.keyboard.press("Space");
      await page.waitForTimeout(400);
    }
    await page.waitForTimeout(500);
    const cell = page.locator(".reveal .jp-CodeCell").first();
    await cell.locator(".jp-InputArea-editor").click();
    await page.keyboard.press("Shift+Enter");
    const t1 = Date.now();
    try {
      await page.waitForFunction(() => {
        const o = document.querySelector(".reveal .jp-CodeCell .jp-OutputArea-output");
        return o && o.textContent.trim().length > 0;
      }, null, { timeout: 180000 });
      r.output = await page.evaluate(() => document.querySelector(".reveal .jp-CodeCell .jp-OutputArea-output").textContent.trim().slice(0, 200));
      r.seconds_to_output = (Date.now() - t1) / 1000;
    } catch (e) {
      r.output = null;
      r.run_error = String(e).slice(0, 200);
    }
  }
  if (shots) await page.screenshot({ path: path.join(shots, `rise-${nb}.png`) });
  await page.close();
  return r;
}

try {
  // ---- the file browser: each notebook once
  if (args.files) {
    const page = await context.newPage();
    const r = {};
    watch(page, r);
    await openLab(page, "lab/tree/" + (args.files === "." ? "" : encodeURI(args.files)));
    await page.waitForSelector(".jp-DirListing-item", { timeout: 60000 });
    await page.waitForTimeout(1000);
    r.listed = await page.evaluate(() => [...document.querySelectorAll(".jp-DirListing-item .jp-DirListing-itemText")]
      .map((e) => e.textContent.trim()));
    if (shots) await page.screenshot({ path: path.join(shots, "file-browser.png") });
    report.files = r;
    await page.close();
  }

  // ---- live RISE decks
  if (args.rise) {
    report.rise = {};
    const decks = String(args.rise).split(",").filter(Boolean);
    for (const [k, nb] of decks.entries()) {
      try {
        report.rise[nb] = await riseDeck(nb, k === 0);
      } catch (e) {                       // reported, so that the test says what failed where
        report.rise[nb] = { error: String(e).slice(0, 600) };
      }
    }
  }

  // ---- explorers: run the notebook, then move a control of each explorer
  if (args.explorers) {
    report.explorers = {};
    for (const nb of String(args.explorers).split(",").filter(Boolean)) {
      const page = await context.newPage();
      const r = { explorers: [] };
      watch(page, r);
      await openNotebook(page, nb);
      const t0 = Date.now();
      // Run every cell; the command resolves when the last one has finished.
      r.run = await page.evaluate(async (ms) => {
        const app = window.jupyterapp;
        const run = app.commands.execute("notebook:run-all-cells");
        const limit = new Promise((ok) => setTimeout(() => ok("timeout"), ms));
        const done = await Promise.race([run.then(() => "done", (e) => `failed: ${e}`), limit]);
        const panel = app.shell.currentWidget;
        const cells = [...panel.content.model.cells];
        const errors = [];
        cells.forEach((c, i) => {
          if (c.type !== "code") return;
          for (const o of c.outputs.toJSON()) if (o.output_type === "error")
            errors.push(`cell ${i}: ${o.ename}: ${String(o.evalue).slice(0, 200)}`);
        });
        const unrun = cells.filter((c) => c.type === "code" && c.sharedModel.getSource().trim() && c.executionCount === null).length;
        return { done, errors, unrun };
      }, timeout);
      r.seconds_to_run = (Date.now() - t0) / 1000;
      // Cells are found inside this notebook's panel: the notebooks opened before stay open in
      // other tabs, with cells of the same index.
      const panelId = await page.evaluate(() => window.jupyterapp.shell.currentWidget.node.id);
      const found = await page.evaluate(() => {
        const panel = window.jupyterapp.shell.currentWidget;
        return [...panel.content.model.cells].map((c, i) => [i, c.sharedModel.getSource()])
          .filter(([, s]) => /explorers\.\w+_explorer\(/.test(s)).map(([i]) => i);
      });
      for (const index of found) {
        const e = { cell: index };
        // Bring the cell into view (JupyterLab draws only the visible cells).
        await page.evaluate(async (i) => {
          const nbw = window.jupyterapp.shell.currentWidget.content;
          nbw.activeCellIndex = i;
          await nbw.scrollToItem(i, "start");
        }, index);
        const cellSel = `[id="${panelId}"] .jp-Notebook .jp-Cell[data-windowed-list-index="${index}"]`;
        try {
          await page.waitForFunction((sel) => {
            const c = document.querySelector(sel);
            const img = c && c.querySelector(".jupyter-widgets img, .widget-output img, .jp-OutputArea img");
            return img && img.complete && img.naturalWidth > 0;
          }, cellSel, { timeout: Number(process.env.LAB_RENDER_TIMEOUT || 240) * 1000 });
          e.rendered = true;
        } catch (err) {
          e.rendered = false;
          e.error = `no figure in the explorer: ${String(err).slice(0, 120)}`;
          e.cell_text = await page.evaluate((sel) => {
            const c = document.querySelector(sel);
            return c ? c.innerText.slice(-600) : "(cell not in the page)";
          }, cellSel).catch(() => null);
          if (shots) await page.screenshot({ path: path.join(shots, `${nb}-explorer-${index}-failed.png`) }).catch(() => {});
          r.explorers.push(e);
          continue;
        }
        e.title = await page.evaluate((sel) => {
          const c = document.querySelector(sel);
          const h = c.querySelector(".widget-html b, .widget-html");
          return h ? h.textContent.trim().slice(0, 80) : null;
        }, cellSel);
        const before = await page.evaluate((sel) => document.querySelector(sel).querySelector(".jupyter-widgets img, .widget-output img").src.length + ":" + document.querySelector(sel).querySelector(".jupyter-widgets img, .widget-output img").src.slice(-64), cellSel);
        // Move one control: a dropdown to its next option, else a slider one step.
        const t1 = Date.now();
        e.control = await page.evaluate((sel) => {
          const c = document.querySelector(sel);
          const select = c.querySelector(".widget-dropdown select");
          if (select && select.options.length > 1) {
            select.selectedIndex = (select.selectedIndex + 1) % select.options.length;
            select.dispatchEvent(new Event("change", { bubbles: true }));
            return `dropdown: ${select.options[select.selectedIndex].text}`;
          }
          const handle = c.querySelector(".noUi-handle, .widget-slider input[type=range]");
          if (handle) { handle.focus(); return "slider"; }
          return null;
        }, cellSel);
        if (e.control === "slider") await page.keyboard.press("ArrowRight");
        if (!e.control) { e.error = "no control to move"; r.explorers.push(e); continue; }
        try {
          await page.waitForFunction(([sel, before]) => {
            const img = document.querySelector(sel).querySelector(".jupyter-widgets img, .widget-output img");
            return img && img.complete && img.naturalWidth > 0 && (img.src.length + ":" + img.src.slice(-64)) !== before;
          }, [cellSel, before], { timeout: 240000 });
          e.responded = true;
          e.seconds_to_respond = (Date.now() - t1) / 1000;
        } catch (err) {
          e.responded = false;
          e.error = `the figure did not change: ${String(err).slice(0, 120)}`;
        }
        if (shots) await page.locator(cellSel).screenshot({ path: path.join(shots, `${nb}-explorer-${index}.png`) }).catch(() => {});
        r.explorers.push(e);
      }
      report.explorers[nb] = r;
      await page.close();
    }
  }

  // ---- save a notebook (a student's: no .py pair may appear)
  if (args.save) {
    const page = await context.newPage();
    const r = {};
    watch(page, r);
    await openNotebook(page, args.save);
    r.saved = await page.evaluate(async () => {
      const app = window.jupyterapp;
      const panel = app.shell.currentWidget;
      panel.content.model.cells.get(0).sharedModel.setSource(
        panel.content.model.cells.get(0).sharedModel.getSource() + "\n");
      await app.commands.execute("docmanager:save");
      return panel.context.model.dirty === false;
    });
    await page.waitForTimeout(1000);
    report.save = r;
    await page.close();
  }
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(report, null, 1) + "\n");
